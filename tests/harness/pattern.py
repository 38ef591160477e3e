# SPDX-License-Identifier: GPL-2.0-or-later
"""pattern - the workload guest's fill pattern, and RAM dumps checked against it.

With fill_size set, the workload guest (tests/guest) writes every 32-bit
word of its fill range once, before the first pass, with

    pattern(A) = page_key(A >> 12) ^ word_key((A >> 2) & 0x3ff)
    page_key(P) = fmix32(P ^ seed)
    word_key(i) = fmix32(i + 0x9e3779b9)

(little-endian; fmix32 is MurmurHash3's finaliser, a bijection of 32-bit
words).  Every page thus holds its own data, so a page put back at the
wrong address is caught, as is a shift inside a page or a zeroed page;
and 4 KiB of scattered words do not compress.  The hot ranges then
write their sequence number over word 0 of their pages: those words
are not checked.

Splitting the hash in two is what makes the check fast in pure Python:
a page is the constant word_key table XORed with page_key repeated
1024 times, which is one small-times-big integer product, so a page is
checked with a few big-integer operations instead of 1024 hash calls
(half a second for 256 MiB on an idle host; see check_dump()).

    from harness import pattern
    bad = pattern.check_dump("/dev/shm/ram.bin", base=0x100000,
                             fill=(0x100000, 0x10000000),
                             hot=[(0x1000000, 0x1400000)], seed=pattern.DEFAULT_SEED)
    # [] or [(page address, first differing byte offset in the page), ...]

CLI:  python3 -m tests.harness.pattern DUMP --base 0x100000 \\
          [--fill 0x100000+0xff00000] [--hot 0x1000000+0x400000 ...] [--seed 0x..]

The guest's console lines about the fill (fill_info(), verifies()):

    qdamon-workload: fill=0x100000+0xff00000 seed=0x5eedf111 done t=0
    qdamon-workload: verify=3 bad=0 t=6
    qdamon-workload: verify=4 bad=2 first_bad=0x2345678 t=8

Ranges are (start, end) tuples here; the CLI and the guest's console
lines say start+size.
"""

import argparse
import os
import re
import sys
import time

PAGE = 4096
WORDS = PAGE // 4
MASK32 = 0xffffffff
DEFAULT_SEED = 0x5eedf111      # tests/guest/config.h WL_DEFAULT_FILL_SEED
WORD_KEY_ADD = 0x9e3779b9
CHUNK = 8 << 20                 # bytes read from a dump at a time

FILL_DONE = r"^qdamon-workload: fill=0x[0-9a-f]+\+0x[0-9a-f]+ seed=0x[0-9a-f]+ done t=\d+$"
_FILL_RE = re.compile(r"^qdamon-workload: fill=0x([0-9a-f]+)\+0x([0-9a-f]+) "
                      r"seed=0x([0-9a-f]+) done t=(\d+)$", re.M)
_VERIFY_RE = re.compile(r"^qdamon-workload: verify=(\d+) bad=(\d+)"
                        r"(?: first_bad=0x([0-9a-f]+))? t=(\d+)$", re.M)
_LIMIT_RE = re.compile(r"^qdamon-workload: ram=0x[0-9a-f]+ low=0x[0-9a-f]+ "
                       r"limit=0x([0-9a-f]+)$", re.M)

__all__ = ["DEFAULT_SEED", "FILL_DONE", "fill_info", "verifies", "ram_limit",
           "fmix32", "page_key", "word_key", "pattern_word", "expected_page",
           "check_bytes", "check_dump", "checked_pages", "parse_num", "parse_range"]


def fmix32(x):
    """MurmurHash3's 32-bit finaliser (tests/guest/workload.c fmix32())."""
    x &= MASK32
    x ^= x >> 16
    x = (x * 0x85ebca6b) & MASK32
    x ^= x >> 13
    x = (x * 0xc2b2ae35) & MASK32
    x ^= x >> 16
    return x


def page_key(addr, seed=DEFAULT_SEED):
    """The word every word of the page holding addr is XORed with."""
    return fmix32((addr >> 12) ^ seed)


def word_key(index):
    """The fixed part of word index (0 .. 1023) of every page."""
    return fmix32(index + WORD_KEY_ADD)


def pattern_word(addr, seed=DEFAULT_SEED):
    """The word the guest writes at guest-physical address addr (a
    multiple of 4)."""
    return page_key(addr, seed) ^ word_key((addr >> 2) & (WORDS - 1))


# A page as one little-endian integer: the word_key table, and the
# multiplier that repeats a 32-bit word 1024 times.
_WORD_KEYS = int.from_bytes(b"".join(word_key(i).to_bytes(4, "little")
                                     for i in range(WORDS)), "little")
_REPEAT = int.from_bytes(b"\x01\x00\x00\x00" * WORDS, "little")
_NOT_WORD0 = ((1 << (PAGE * 8)) - 1) ^ MASK32


def _expected_int(addr, seed):
    return _WORD_KEYS ^ (page_key(addr, seed) * _REPEAT)


def expected_page(addr, seed=DEFAULT_SEED):
    """The 4096 bytes the guest writes to the page at addr (word 0 of a
    hot page is then overwritten)."""
    return _expected_int(addr, seed).to_bytes(PAGE, "little")


def _in_ranges(addr, ranges):
    for start, end in ranges:
        if start <= addr < end:
            return True
    return False


def _check_page(data, addr, seed, hot):
    """None if the page data (a bytes-like of PAGE bytes) at addr holds
    the pattern, else the offset of its first differing byte."""
    diff = int.from_bytes(data, "little") ^ _expected_int(addr, seed)
    if diff and _in_ranges(addr, hot):
        diff &= _NOT_WORD0
    if not diff:
        return None
    return ((diff & -diff).bit_length() - 1) // 8


def _pages(base, length, fill):
    """The page-aligned [first, end) of [base, base + length) that lies
    in fill (whole pages only); first >= end when none."""
    lo, hi = base, base + length
    if fill is not None:
        lo, hi = max(lo, fill[0]), min(hi, fill[1])
    lo = (lo + PAGE - 1) & ~(PAGE - 1)
    hi &= ~(PAGE - 1)
    return lo, hi


def check_bytes(data, base, fill=None, hot=(), seed=DEFAULT_SEED):
    """Check data, guest-physical memory from base (page-aligned),
    against the pattern over fill, (start, end) or None for all of
    data, skipping word 0 of the pages in the hot ranges, [(start,
    end)].  Return [(page address, first differing byte offset)]."""
    if base % PAGE:
        raise ValueError("base 0x%x is not page-aligned" % base)
    view = memoryview(data)
    lo, hi = _pages(base, len(view), fill)
    hot = list(hot)
    bad = []
    for addr in range(lo, hi, PAGE):
        off = addr - base
        first = _check_page(view[off:off + PAGE], addr, seed, hot)
        if first is not None:
            bad.append((addr, first))
    return bad


def check_dump(path, base, fill=None, hot=(), seed=DEFAULT_SEED):
    """check_bytes() on a dump file (QMP pmemsave of guest-physical
    [base, base + file size)), read CHUNK bytes at a time so that a
    dump of all guest RAM need not fit in memory twice."""
    if base % PAGE:
        raise ValueError("base 0x%x is not page-aligned" % base)
    bad = []
    buf = bytearray(CHUNK)
    with open(path, "rb") as f:
        off = 0
        while True:
            # a buffered readinto() fills buf but at the end of the file,
            # so every chunk but the last is CHUNK bytes, whole pages
            n = f.readinto(buf)
            if not n:
                return bad
            bad += check_bytes(memoryview(buf)[:n], base + off, fill, hot, seed)
            off += n


def checked_pages(length, base, fill=None):
    """How many pages check_dump() looks at in a dump of length bytes."""
    lo, hi = _pages(base, length, fill)
    return max(0, (hi - lo) // PAGE)


def fill_info(console):
    """(start, end, seed, seconds) from the guest's fill= line, or None
    before it."""
    m = _FILL_RE.search(console)
    if not m:
        return None
    start = int(m.group(1), 16)
    return start, start + int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))


def verifies(console):
    """[(k, bad words, first bad address or None, t)] from the guest's
    verify= lines, oldest first."""
    return [(int(m.group(1)), int(m.group(2)),
             int(m.group(3), 16) if m.group(3) else None, int(m.group(4)))
            for m in _VERIFY_RE.finditer(console)]


def ram_limit(console):
    """The top of the guest's usable RAM from its ram= line, or None."""
    m = _LIMIT_RE.search(console)
    return int(m.group(1), 16) if m else None


def parse_num(text):
    """A number as the guest's configuration writes it: any base Python
    reads, then an optional K, M or G."""
    shift = {"k": 10, "m": 20, "g": 30}.get(text[-1:].lower())
    return int(text[:-1], 0) << shift if shift else int(text, 0)


def parse_range(text):
    """"START+SIZE" or "START-END" (numbers as parse_num() reads them)
    -> (start, end)."""
    if "+" in text:
        start, size = text.split("+", 1)
        start = parse_num(start)
        return start, start + parse_num(size)
    start, end = text.split("-", 1)
    return parse_num(start), parse_num(end)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check a pmemsave dump of the workload guest's RAM against its "
        "fill pattern (tests/guest, fill_size).")
    ap.add_argument("dump", help="the dump file: guest-physical [base, base + size)")
    ap.add_argument("--base", type=parse_num, required=True,
                    help="guest-physical address of the dump's first byte")
    ap.add_argument("--fill", type=parse_range, default=None, metavar="START+SIZE",
                    help="the fill range, as the guest's fill= line gives it "
                    "(default: all of the dump)")
    ap.add_argument("--hot", type=parse_range, action="append", default=[],
                    metavar="START+SIZE",
                    help="a hot range, whose pages' word 0 is not checked "
                    "(repeat for each range and phase position)")
    ap.add_argument("--seed", type=parse_num, default=DEFAULT_SEED,
                    help="fill_seed (default: 0x%x)" % DEFAULT_SEED)
    ap.add_argument("--show", type=int, default=20, metavar="N",
                    help="list at most N bad pages (default: %(default)s)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    bad = check_dump(args.dump, args.base, args.fill, args.hot, args.seed)
    secs = time.monotonic() - t0
    pages = checked_pages(os.path.getsize(args.dump), args.base, args.fill)
    for addr, off in bad[:args.show]:
        print("bad page 0x%x: first difference at +0x%x" % (addr, off))
    if len(bad) > args.show:
        print("... %d more" % (len(bad) - args.show))
    print("%s: %d pages checked, %d bad, seed=0x%x, %.2f s"
          % (args.dump, pages, len(bad), args.seed, secs))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
