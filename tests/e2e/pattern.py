#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pattern.py - end-to-end test: the workload guest's fill pattern and its two checks.

The tests of what the host does to guest RAM (page-out, MADV_COLD, huge
pages, NUMA moves) prove that the guest reads back what it wrote by
filling guest RAM with a known pattern (tests/guest, fill_size) and
checking it from both ends: the guest re-reads it (verify_secs) and the
host checks pmemsave dumps (harness.pattern).  This test checks those
two checks, on a guest that nothing disturbs:

  boot          the guest fills all usable RAM, [1 MiB, limit), and runs
                its hot set;
  verify        two guest verifies report bad=0;
  dump-check    a pmemsave dump of the fill range has 0 bad pages;
  checker-fails negative control: the same dump, corrupted on the host
                (a flipped byte, a zeroed page, two swapped pages, word 1
                and word 0 of hot pages, ...), gives exactly the pages
                corrupted, at the right offsets, and not word 0 of a hot
                page (the guest writes its sequence number there);
  guest-fails   negative control of the guest's verify: guest RAM is a
                shared file in /dev/shm, so the host can change a few
                words of it behind the guest's back; a verify that began
                after that reports exactly them (bad=N, first_bad), a
                dump agrees, and once the words are put back the verify
                says bad=0 again.  --anon-ram skips it;
  running, quit.

Prints one PASS/FAIL line per step, a RESULT line at the end, and exits
0 only if every step passed.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import args as harg, pattern, ramcmp, report, steps  # noqa: E402
from harness.env import MIB, PAGE  # noqa: E402
from harness.report import Failed  # noqa: E402
from harness.vm import WorkloadVM  # noqa: E402

RAM_ID = "pattern-ram"


def parse_args():
    ap = harg.parser(__doc__)
    harg.add_vm(ap, mem=256, hot_start=16 * MIB, hot_size=4 * MIB)
    ap.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds allowed for the fill, and for each wait for "
                    "verify lines (default: %(default)s)")
    ap.add_argument("--verify-secs", type=int, default=2, metavar="S",
                    help="the guest's verify_secs (default: %(default)s)")
    ap.add_argument("--seed", type=harg.hex_int, default=None,
                    help="fill_seed (default: the guest's, 0x%x)" % pattern.DEFAULT_SEED)
    ap.add_argument("--anon-ram", action="store_true",
                    help="plain guest RAM instead of a shared file in /dev/shm; "
                    "skips the negative control of the guest's verify")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (console, QEMU stderr)")
    return ap.parse_args()


class Run:
    """What the steps share: the VM, and what the guest said it filled."""

    def __init__(self, args, vm, ram_path):
        self.args = args
        self.vm = vm
        self.ram_path = ram_path
        self.fill = None            # (start, end)
        self.seed = None
        self.hot = [(args.hot_start, args.hot_start + args.hot_size)]
        self.dump_path = os.path.join(ramcmp.dump_dir(vm.workdir),
                                      "qdamon-pattern-%d.bin" % os.getpid())

    # -- the guest's console

    def verifies(self):
        return pattern.verifies(self.vm.console())

    def last_verify(self):
        """The number of the guest's last verify line (0: none yet)."""
        lines = self.verifies()
        return lines[-1][0] if lines else 0

    def wait_verify(self, k, what):
        """Wait for the guest's verify line number k; return it."""
        deadline = time.monotonic() + self.args.timeout
        while True:
            lines = [v for v in self.verifies() if v[0] >= k]
            if lines:
                return lines[0]
            self.vm._check_alive()
            if time.monotonic() >= deadline:
                raise Failed("no verify=%d line (%s) within %.0f s; last: %s"
                             % (k, what, self.args.timeout, self.verifies()[-1:]))
            time.sleep(0.1)

    # -- guest RAM on the host

    def dump(self):
        """pmemsave the fill range; return the seconds it took."""
        t0 = time.monotonic()
        ramcmp.pmemsave(self.vm, self.fill[0], self.fill[1], self.dump_path)
        return time.monotonic() - t0

    def check(self):
        """check_dump() of the dump; return (bad pages, seconds)."""
        t0 = time.monotonic()
        bad = pattern.check_dump(self.dump_path, self.fill[0], self.fill, self.hot,
                                 self.seed)
        return bad, time.monotonic() - t0

    def poke(self, addr, data):
        """Write data at guest-physical addr through the RAM's backing file
        (below 4 GiB on pc, its offset is the address)."""
        with open(self.ram_path, "r+b") as f:
            f.seek(addr)
            f.write(data)

    def remove_files(self):
        for path in (self.dump_path, self.ram_path):
            if path and os.path.exists(path):
                os.unlink(path)


def cold_page(run, frac):
    """A page about frac of the way into the fill range, outside the hot
    range (the test must also work with other --mem and --hot-*)."""
    (fs, fe), (hs, he) = run.fill, run.hot[0]
    addr = (fs + int((fe - fs) * frac)) & ~(PAGE - 1)
    if hs <= addr < he:
        addr = he if he < fe else fs
    return addr


def ranges_text(ranges):
    return ", ".join("0x%x+0x%x" % (s, e - s) for s, e in ranges)


def step_boot(run, rep):
    vm, args = run.vm, run.args
    t0 = time.monotonic()
    vm.start()
    vm.wait_console(pattern.FILL_DONE, timeout=args.timeout)
    steps.wait_first_pass(vm, args.hot_start, args.hot_size, timeout=args.timeout)
    console = vm.console()
    start, end, seed, secs = pattern.fill_info(console)
    limit = pattern.ram_limit(console)
    want_seed = pattern.DEFAULT_SEED if args.seed is None else args.seed & 0xffffffff
    if (start, end) != (MIB, limit) or seed != want_seed:
        raise Failed("guest filled 0x%x+0x%x seed=0x%x; expected all usable RAM "
                     "0x%x+0x%x seed=0x%x" % (start, end - start, seed, MIB,
                                              (limit or 0) - MIB, want_seed))
    run.fill, run.seed = (start, end), seed
    rep.figures["fill_mib"] = (end - start) // MIB
    rep.figures["fill_guest_s"] = secs
    rep.ok("boot", "fill=0x%x+0x%x (%d MiB) seed=0x%x took %d s by the guest's clock; "
           "first pass %.2f s after start, hot=%s, RAM %s"
           % (start, end - start, (end - start) // MIB, seed, secs,
              time.monotonic() - t0, ranges_text(run.hot),
              "plain" if args.anon_ram else "in the shared file " + run.ram_path))


def step_verify(run, rep):
    v = run.wait_verify(2, "the second verify")
    lines = run.verifies()
    bad = [x for x in lines if x[1]]
    if bad:
        raise Failed("guest verify found bad words: %s" % bad)
    rep.ok("verify", "guest: %s" % ", ".join("verify=%d bad=%d t=%d" % (k, b, t)
                                              for k, b, _, t in lines))
    rep.figures["verifies"] = v[0]


def step_dump_check(run, rep):
    dump_s = run.dump()
    bad, check_s = run.check()
    size = run.fill[1] - run.fill[0]
    rep.figures["check_s"] = round(check_s, 2)
    if bad:
        raise Failed("%d bad pages in the dump, first %s"
                     % (len(bad), ", ".join("0x%x+0x%x" % b for b in bad[:8])))
    rep.ok("dump-check", "pmemsave of %d MiB took %.2f s; pattern.check_dump: %d pages, "
           "0 bad, in %.2f s (%.0f MiB/s)"
           % (size // MIB, dump_s, size // PAGE, check_s, size / MIB / check_s))


def first_diff(a, b):
    """Offset of the first byte where a and b differ (None if equal)."""
    return next((i for i in range(len(a)) if a[i] != b[i]), None)


def step_checker_fails(run, rep):
    """Corrupt the dump on the host, in ways a host action could: the
    checker must name exactly the pages hit, at the right offsets."""
    (fs, fe), hs = run.fill, run.hot[0][0]
    seed = run.seed
    with open(run.dump_path, "r+b") as f:
        def read(addr, n):
            f.seek(addr - fs)
            return f.read(n)

        def write(addr, data):
            f.seek(addr - fs)
            f.write(data)

        def flip(addr):
            write(addr, bytes([read(addr, 1)[0] ^ 0x40]))

        want = {}
        # the first page of the fill, a byte in the middle
        flip(fs + 0x123)
        want[fs] = 0x123
        # word 0 of a cold page: checked (only hot pages' word 0 is not)
        cold = cold_page(run, 0.25)
        flip(cold + 2)
        want[cold] = 2
        # word 0 of a hot page: the guest's sequence number, not checked
        flip(hs + 5 * PAGE + 1)
        # word 1 of a hot page: checked
        flip(hs + 7 * PAGE + 4)
        want[hs + 7 * PAGE] = 4
        # a page that comes back as zeros
        zero = cold_page(run, 0.4)
        write(zero, bytes(PAGE))
        want[zero] = first_diff(pattern.expected_page(zero, seed), bytes(PAGE))
        # two pages swapped: each in the other's place
        a = cold_page(run, 0.6)
        b = a + PAGE
        pa, pb = read(a, PAGE), read(b, PAGE)
        write(a, pb)
        write(b, pa)
        want[a] = want[b] = first_diff(pa, pb)
        # the very last byte of the fill range
        flip(fe - 1)
        want[fe - PAGE] = PAGE - 1
    bad, check_s = run.check()
    expected = sorted(want.items())
    if bad != expected:
        raise Failed("checker found %s; expected %s (word 0 of hot page 0x%x skipped)"
                     % (", ".join("0x%x+0x%x" % x for x in bad[:16]),
                        ", ".join("0x%x+0x%x" % x for x in expected), hs + 5 * PAGE))
    rep.ok("checker-fails", "corrupted dump: the checker names exactly the %d pages hit "
           "(page+offset %s) and skips word 0 of hot page 0x%x, in %.2f s"
           % (len(bad), ", ".join("0x%x+0x%x" % x for x in bad), hs + 5 * PAGE, check_s))


def step_guest_fails(run, rep):
    """Change words of guest RAM behind the guest's back (the backing
    file); the guest's verify and a dump must both see exactly them, and
    the verify must go back to bad=0 once they are restored."""
    (fs, fe), hs = run.fill, run.hot[0][0]
    seed = run.seed
    # a cold word, a word of a hot page that is not word 0, the last word
    addrs = [cold_page(run, 0.05) + 0x40, hs + 2 * PAGE + 12, fe - 4]
    for addr in addrs:
        word = pattern.pattern_word(addr, seed)
        got = run.vm.read_phys_u32(addr)[0]
        if got != word:
            raise Failed("guest word at 0x%x is 0x%08x before any change, pattern 0x%08x"
                         % (addr, got, word))
        run.poke(addr, (word ^ 0x80000001).to_bytes(4, "little"))
    # A verify under way now may have begun before the writes: the one
    # after it began after them.
    k0 = run.last_verify()
    seen = run.wait_verify(k0 + 2, "after the writes")
    if seen[1:3] != (len(addrs), min(addrs)):
        raise Failed("guest verify=%d after %d words changed at %s: bad=%d first_bad=%s; "
                     "expected bad=%d first_bad=0x%x"
                     % (seen[0], len(addrs), ", ".join(map(hex, addrs)), seen[1],
                        seen[2] and hex(seen[2]), len(addrs), min(addrs)))
    run.dump()
    bad, _ = run.check()
    expected = sorted((a & ~(PAGE - 1), a & (PAGE - 1)) for a in addrs)
    if bad != expected:
        raise Failed("dump after the writes: checker found %s, expected %s"
                     % (", ".join("0x%x+0x%x" % x for x in bad[:16]),
                        ", ".join("0x%x+0x%x" % x for x in expected)))
    for addr in addrs:
        run.poke(addr, pattern.pattern_word(addr, seed).to_bytes(4, "little"))
    k1 = run.last_verify()
    healed = run.wait_verify(k1 + 2, "after the words were put back")
    if healed[1]:
        raise Failed("guest verify=%d after the words were put back: bad=%d first_bad=0x%x"
                     % (healed[0], healed[1], healed[2]))
    rep.ok("guest-fails", "%d words changed through the RAM file at %s: guest verify=%d "
           "bad=%d first_bad=0x%x, the dump check agrees; put back: verify=%d bad=0"
           % (len(addrs), ", ".join(map(hex, addrs)), seen[0], seen[1], seen[2],
              healed[0]))


def run_test(args, rep):
    config = {"hot_start": args.hot_start, "hot_size": args.hot_size,
              "fill_size": "all", "verify_secs": args.verify_secs}
    if args.seed is not None:
        config["fill_seed"] = args.seed
    ram_path, extra = None, []
    if not args.anon_ram:
        ram_path = os.path.join(ramcmp.dump_dir(), "qdamon-pattern-%d-ram" % os.getpid())
        extra = ["-object", "memory-backend-file,id=%s,size=%dM,mem-path=%s,share=on"
                 % (RAM_ID, args.mem, ram_path),
                 "-machine", "memory-backend=" + RAM_ID]
    with WorkloadVM(args.qemu, args.firmware, mem_mib=args.mem, config=config,
                    extra_args=extra, keep_workdir=args.keep) as vm:
        run = Run(args, vm, ram_path)
        try:
            if args.keep:
                rep.info("work directory: %s" % vm.workdir)
            ok = report.run_steps(rep, [
                ("boot", lambda: step_boot(run, rep)),
                ("verify", lambda: step_verify(run, rep)),
                ("dump-check", lambda: step_dump_check(run, rep)),
                ("checker-fails", lambda: step_checker_fails(run, rep)),
            ])
            if ok and args.anon_ram:
                rep.skip("guest-fails", "--anon-ram: the host has no clean way to "
                         "change a word of plain guest RAM")
            elif ok:
                ok = report.run_steps(rep, [
                    ("guest-fails", lambda: step_guest_fails(run, rep))])
            if ok:
                report.run_step(rep, "running", lambda: steps.step_still_running(vm, rep))
            rate = vm.pass_rate()
            if rate is not None:
                rep.figures["guest_passes_per_s"] = round(rate, 1)
            steps.step_quit(vm, rep)
        finally:
            run.remove_files()


if __name__ == "__main__":
    ARGS = parse_args()
    report.main("pattern", lambda rep: run_test(ARGS, rep), width=14)
