# SPDX-License-Identifier: GPL-2.0-or-later
"""harness - what qdamon's Python tests, benchmarks and demo share.

One package, imported normally.  An entry point (tests/e2e/*.py,
tests/nested/*.py, tests/libvirt/run.py, bench/*.py, scripts/demo.py)
puts the tests/ directory on sys.path once, with one line before its
first harness import:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

(from tests/<dir>/; from bench/ and scripts/ the last part is
"..", "tests"), and then imports what it needs:

    from harness import env, hotset
    from harness.vm import WorkloadVM

Modules:

  env       where things are: the repository, our QEMU (QDAMON_QEMU),
            the meson build directory (QDAMON_BUILD), the workload
            firmware, qdamo; units
  qmp       a dependency-free QMP client
  proc      helpers for the processes we start (stop, stderr tail)
  vm        WorkloadVM: our QEMU running the workload guest under TCG,
            and the guest-console reading it shares with InnerVM
  nested    NestedHost and InnerVM: our QEMU under real KVM, nested in
            a TCG VM with emulated SVM (tests/nested/mkinitrd.sh)
  libvirt   libvirtd and virtlogd, virsh, and transient domains running
            the workload guest on our QEMU
  report    the PASS/FAIL/SKIP step lines and the RESULT line
  pattern   the guest's fill pattern (fill_size/fill_seed) and a check
            of a pmemsave dump against it
  hotset    the pass thresholds and the hot-set score of a snapshot
  steps     the steps the hot-set tests share (boot, damon-start, find
            the hot set, damon-stop, ...)
  ramcmp    guest RAM compared page by page (migration, guest writes)
  args      the command-line options the entry points share
"""
