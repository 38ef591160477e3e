#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build and run every test, then print "N passed, N failed".
#
#   1. the plain build (debugoptimized): all unit and convergence tests;
#   2. ASan + UBSan: all unit tests;
#   3. TSan: the tests that run a driver thread (suite 'threads');
#   4. the programs check: every program the scripts and tests run
#      comes from a package scripts/setup.sh installs
#      (tests/e2e/setup-programs.py);
#   5. QEMU (scripts/build-qemu.sh --qtests): the layers check
#      (tests/e2e/layers.py), qdamon's qtests, QEMU's qmp-cmd-test, the
#      end-to-end tests (TCG with each source, schemes, the QMP fuzzer,
#      VM lifecycle events, migration, libvirt, nested KVM and a live
#      migration under it, idle-page on a nested kernel with page_idle,
#      reclaim, start/tune/stop churn), the qtests, the fuzzer, the
#      churn and the lifecycle test again on an ASan+UBSan QEMU, and the
#      churn on a TSan QEMU (scripts/build-qemu.sh --tsan).
#
# Build directories build, build-asan and build-tsan are git-ignored and
# reused, so a second run only rebuilds what changed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

passed=0
failed=0

# Count GLib subtests from meson's "N subtests passed" lines; a failing
# or timed-out test program counts as one failure.
count() {
	local log=$1 ok fail timeout
	ok=$(grep -oE '[0-9]+ subtests passed' "$log" | awk '{s += $1} END {print s + 0}')
	fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
	timeout=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
	passed=$((passed + ok))
	failed=$((failed + ${fail:-0} + ${timeout:-0}))
}

# run NAME SETUP-ARGS -- TEST-ARGS
run() {
	local name=$1 dir=build log
	[ "$name" = plain ] || dir=build-$name
	shift
	local setup=() testargs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	testargs=("$@")
	log=$(mktemp)
	echo "== $name"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "${setup[@]}" >"$log" 2>&1 ||
			{ cat "$log"; failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" >"$log" 2>&1; then
		cat "$log"
		echo "$name: build failed"
		failed=$((failed + 1))
		return
	fi
	meson test -C "$dir" --print-errorlogs "${testargs[@]}" 2>&1 | tee "$log"
	count "$log"
	rm -f "$log"
}

# The signature of a known nested-emulation flake: the inner guest
# resets itself (QMP SHUTDOWN guest-reset), sometimes before any monitor
# has started (docs/notes/nested-harness.md).
GUEST_RESET="SHUTDOWN {'guest': True, 'reason': 'guest-reset'}"
# ... or, since the guest reports its exceptions instead of resetting,
# the line it prints then (tests/guest/trap.c)
GUEST_TRAP="qdamon-workload: error: CPU exception vector="

# nested_e2e LOG NAME TIMEOUT SCRIPT WHAT [ARGS...]: a test of
# tests/nested; its exit status 77 is a skip, printed with its reason,
# that fails nothing.  A run that failed because its inner guest reset
# itself runs once more, and only that second run counts; the first
# one's lines are printed, marked, and the retry is said.
nested_e2e() {
	local log=$1 name=$2 limit=$3 script=$4 what=$5 rc
	shift 5
	echo "== $name $what"
	timeout "$limit" python3 "$script" "$@" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] &&
		grep -qF -e "$GUEST_RESET" -e "$GUEST_TRAP" "$log"; then
		grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log" | sed 's/^/first attempt: /'
		grep -oE "$GUEST_TRAP[^;]*" "$log" | head -3 | sed 's/^/first attempt: /'
		echo "RETRY $name: an inner guest reset itself or faulted; once more"
		timeout "$limit" python3 "$script" "$@" >"$log" 2>&1
		rc=$?
	fi
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	if [ "$rc" -eq 77 ]; then
		echo "$name: skipped"
		return
	fi
	[ "$rc" -ne 0 ] && ! grep -qE '^(PASS|FAIL) ' "$log" && tail -20 "$log"
	count_e2e "$log" "$rc"
}

# qdamon's qtests again on a QEMU built with ASan and UBSan: memory
# hotplug and unplug must leave no region pointing at freed RAM.
asan_qtests() {
	local log=$1 abuild=_work/qemu-build-asan rc
	echo "== qemu (ASan + UBSan)"
	if ! scripts/build-qemu.sh --asan --qtests >"$log" 2>&1; then
		tail -40 "$log"
		echo "qemu-asan: build failed"
		failed=$((failed + 1))
		return
	fi
	for qtest in damon-test damon-schemes-test; do
		echo "== qtest $qtest (ASan + UBSan)"
		# QEMU's own leaks at exit are not ours to judge; memory errors are
		(cd "$abuild" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
			ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			timeout 1800 "./tests/qtest/$qtest" --tap -k) >"$log" 2>&1
		rc=$?
		grep -E '^(ok|not ok)' "$log" | sed 's/^/asan: /'
		grep -E 'ERROR: AddressSanitizer|runtime error' "$log" | head -5
		count_tap "$log"
		if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$log"; then
			failed=$((failed + 1))
		fi
	done
	echo "== e2e churn (ASan + UBSan + LSan)"
	timeout 1800 python3 tests/e2e/churn.py --build asan >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log" | sed 's/^/asan: /'
	count_e2e "$log" "$rc"
	echo "== e2e fuzz-qmp (ASan + UBSan)"
	timeout 900 python3 tests/e2e/fuzz-qmp.py \
		--qemu "$abuild/qemu-system-x86_64" >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|RESULT) ' "$log" | sed 's/^/asan: /'
	count_e2e "$log" "$rc"
}

run plain -- --suite unit
run asan -Db_sanitize=address,undefined -Db_lundef=false -- \
	--suite unit --no-suite slow
# TSan needs a fixed address-space layout on kernels with high mmap
# entropy; setarch -R gives it one.
TSAN_OPTIONS="halt_on_error=1" \
	run tsan -Db_sanitize=thread -Db_lundef=false -- --suite threads \
	--wrapper "setarch $(uname -m) -R"

# ---- QEMU: qtests and end-to-end tests on the patched QEMU ----

# Count TAP "ok"/"not ok" lines of a qtest run.
count_tap() {
	local log=$1 ok bad
	ok=$(grep -cE '^ok ' "$log" || true)
	bad=$(grep -cE '^not ok ' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# Count PASS/FAIL lines of an e2e script; a script that fails without
# one counts once.
count_e2e() {
	local log=$1 rc=$2 ok bad
	ok=$(grep -cE '^PASS ' "$log" || true)
	bad=$(grep -cE '^FAIL ' "$log" || true)
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	# The steps' detail lines (a sanitizer report, a traceback) are all
	# a CI log keeps of a failure that does not reproduce here.
	if [ "$bad" -ne 0 ]; then
		echo "-- details of the failed run (log lines that are not PASS):"
		grep -vE '^PASS ' "$log" | head -150 | sed 's/^/  | /'
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# The churn test on a QEMU built with ThreadSanitizer: the monitor
# threads against the BQL, RCU readers, the dirty-bitmap hub and the
# TLB-fill observer; any report with a qdamon frame fails
# (tests/tsan/qemu.supp says what is suppressed and why).  2000 cycles
# (10000 take about 8 minutes: by hand, docs/notes/sanitizers.md).
tsan_churn() {
	local log=$1 rc
	echo "== qemu (TSan)"
	if ! scripts/build-qemu.sh --tsan >"$log" 2>&1; then
		tail -40 "$log"
		echo "qemu-tsan: build failed"
		failed=$((failed + 1))
		return
	fi
	echo "== e2e churn (TSan)"
	timeout 1200 python3 tests/e2e/churn.py --build tsan --cycles 2000 >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log" | sed 's/^/tsan: /'
	count_e2e "$log" "$rc"
}

qemu_tests() {
	local qbuild=_work/qemu-build log rc qtest
	log=$(mktemp)
	echo "== qemu"
	if ! scripts/build-qemu.sh --qtests >"$log" 2>&1; then
		tail -40 "$log"
		echo "qemu: build failed"
		failed=$((failed + 1))
		return
	fi
	# layers: includes go one way, only damon.h is public, and QEMU's
	# build compiles no test support (the simulator)
	echo "== layers"
	timeout 120 python3 tests/e2e/layers.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	for qtest in damon-test damon-schemes-test qmp-cmd-test; do
		[ -x "$qbuild/tests/qtest/$qtest" ] || continue
		echo "== qtest $qtest"
		(cd "$qbuild" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
			timeout 900 "./tests/qtest/$qtest" --tap -k) >"$log" 2>&1
		rc=$?
		grep -E '^(ok|not ok|# )' "$log" | grep -vE '^# (Start|End) of' | tail -60
		count_tap "$log"
		[ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$log" && failed=$((failed + 1))
	done
	ninja -C build tests/guest/workload.bin >/dev/null
	# "default": a bare {"execute": "damon-start"}, as virsh would send it
	for src in default dirty-bitmap page-hash tcg-accessed; do
		local srcarg=(--source "$src")
		[ "$src" = default ] && srcarg=()
		echo "== e2e tcg-workload ${srcarg[*]:-(raw damon-start, no arguments)}"
		timeout 300 python3 tests/e2e/tcg-workload.py "${srcarg[@]}" \
			>"$log" 2>&1
		rc=$?
		grep -E '^(PASS|FAIL|RESULT) ' "$log"
		count_e2e "$log" "$rc"
	done
	# reads: tcg-accessed finds a range the guest only reads, dirty-bitmap
	# does not; with 2 vCPUs (MTTCG); on a set that stays in the TLB; and
	# the negative control, whose re-arm is switched off, must miss it
	# reads and writes apart: tcg-accessed with a dirty-bitmap write
	# source (write share of A >= 80 %, of B <= 5 %, write WSS near |A|),
	# and a bare damon-start, whose default under TCG is tcg-accessed;
	# idle-page here: refused with a clear error (no page_idle on Debian)
	for args in "" "--smp 2" "--tlb-resident --sources tcg-accessed" \
		"--tlb-resident --sources tcg-accessed --expect-blind --timeout 15" \
		"--sources tcg-accessed+dirty-bitmap,default,idle-page"; do
		echo "== e2e tcg-reads $args"
		# shellcheck disable=SC2086
		timeout 300 python3 tests/e2e/tcg-reads.py $args >"$log" 2>&1
		rc=$?
		grep -E '^(PASS|FAIL|RESULT) ' "$log"
		count_e2e "$log" "$rc"
	done
	# the guest's fill pattern and its checker, which the scheme tests
	# rely on to show that nothing is lost: both can fail
	echo "== e2e pattern"
	timeout 300 python3 tests/e2e/pattern.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# the guest reports a CPU exception (a ud2 put at EIP through the gdb
	# stub) instead of resetting, so a nested guest-reset names its cause
	echo "== e2e guest-trap"
	timeout 120 python3 tests/e2e/guest-trap.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# intervals auto-tuning on a guest that sleeps (QMP stop) and wakes
	# (cont): the intervals grow to their maximum, then come back down
	echo "== e2e intervals-goal"
	timeout 120 python3 tests/e2e/intervals-goal.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# bench smoke: every TCG source at default intervals and auto-tuned
	# on a 1 GiB guest, short windows; it asserts no figure and fails
	# only when it cannot measure (docs/notes/tuning-bench.md)
	echo "== bench tuning (smoke)"
	timeout 300 python3 bench/tuning.py --sizes 1 --measure 3 --off 2 --find-cap 10 >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT|ERROR) ' "$log"
	count_e2e "$log" "$rc"
	# every scheme action, again and again on a running guest: its
	# verifies and a dump of its RAM must find the pattern intact
	echo "== e2e schemes"
	timeout 300 python3 tests/e2e/schemes.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# churn: start/tune/query/stop cycles, up to 3 monitors (every TCG
	# source, both clocks, every scheme action) on one running guest;
	# every answer as expected, the guest running, QEMU's RSS outside
	# guest RAM flat after warm-up (10000 cycles, about 2 minutes here;
	# docs/notes/sanitizers.md)
	echo "== e2e churn"
	timeout 1200 python3 tests/e2e/churn.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# QMP fuzzing: generated, mutated and raw requests from two clients;
	# each answered, none that breaks a rule accepted, query-damon as the
	# model says, the guest runs on (docs/notes/fuzzing.md)
	echo "== e2e fuzz-qmp"
	timeout 600 python3 tests/e2e/fuzz-qmp.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# VM lifecycle events under four monitors: reset, guest reboot and
	# power-off, savevm/loadvm, DIMM plug and unplug, a failed migration,
	# SIGTERM and SIGINT; the guest's pattern must survive them all
	echo "== e2e lifecycle"
	timeout 600 python3 tests/e2e/lifecycle.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	for args in "" "--steal-migration-bits" "--source tcg-accessed --smp 2" \
		"--scheme pageout --no-cancel --rounds 1"; do
		echo "== e2e migration $args"
		# shellcheck disable=SC2086
		timeout 900 python3 tests/e2e/migration.py $args >"$log" 2>&1
		rc=$?
		grep -E '^(PASS|FAIL|RESULT) ' "$log"
		count_e2e "$log" "$rc"
	done
	echo "== libvirt (qdamo through a real libvirtd)"
	timeout 900 python3 tests/libvirt/run.py --no-setup >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	# real KVM, nested in a TCG VM with emulated SVM (tests/nested)
	nested_e2e "$log" "nested KVM" 900 tests/nested/kvm-workload.py \
		"(dirty ring and dirty bitmap under real KVM)"
	# live migration inside the outer VM of a guest under KVM with a
	# dirty ring, dirty-ring and dirty-bitmap monitors running on the
	# source: it completes, both monitors aggregate through it, all RAM
	# equal on both ends, and the destination runs on
	nested_e2e "$log" "nested migration" 900 tests/nested/kvm-migration.py \
		"(live migration under KVM with a dirty ring and monitors running)"
	# ... and its negative control: the comparison can fail
	nested_e2e "$log" "nested migration" 900 tests/nested/kvm-migration.py \
		"--let-destination-run (negative control)" --let-destination-run
	# dirty-bitmap under KVM's dirty log re-arms the sampled pages the
	# guest wrote with one KVM_CLEAR_DIRTY_LOG per slot, not one per page
	# (the old per-page path is the control the counts must tell apart)
	nested_e2e "$log" "nested bitmap clear" 900 tests/nested/kvm-bitmap-clear.py \
		"(batched KVM_CLEAR_DIRTY_LOG vs per page, under KVM's dirty log)"
	# ... and a live migration under KVM's dirty log with two dirty-bitmap
	# monitors re-arming that way: all RAM equal on both ends
	nested_e2e "$log" "nested migration" 900 tests/nested/kvm-migration.py \
		"--ring-size 0 (dirty log, two dirty-bitmap monitors)" \
		--ring-size 0 --monitors dirty-bitmap,dirty-bitmap
	# host accessed bits: our L1 kernel with page_idle (built the first
	# time, some 13 minutes, then cached); idle-page under TCG and KVM,
	# its refusals, qdamo's fd passing, and a migration with it running
	nested_e2e "$log" "nested idle-page" 2400 tests/nested/idle-page.py \
		"(host accessed bits, kernel with page_idle)"
	# ... and its migration's negative control: the comparison can fail
	nested_e2e "$log" "nested idle-page" 600 tests/nested/idle-page.py \
		"--runs migration --let-destination-run (negative control)" \
		--runs migration --let-destination-run
	# DAMOS on the same kernel, with zram swap inside the outer VM:
	# pageout saves the cold memory and leaves the hot set, a bytes
	# quota holds per window, an rss-bytes goal settles on its target,
	# and five actions acting on and off lose no byte the guest wrote
	nested_e2e "$log" "nested reclaim" 1800 tests/nested/reclaim.py \
		"(DAMOS schemes on host memory: pageout to zram, quota, goal, no loss)"
	asan_qtests "$log"
	tsan_churn "$log"
	# ... and on the ASan+UBSan QEMU (built by asan_qtests): a use of
	# freed migration state at exit was found this way
	echo "== e2e lifecycle (ASan + UBSan)"
	timeout 900 python3 tests/e2e/lifecycle.py \
		--qemu _work/qemu-build-asan/qemu-system-x86_64 >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	rm -f "$log"
}

# Every program the scripts and tests run must come from a package that
# scripts/setup.sh installs, or a fresh machine fails where this one
# passed.
programs_check() {
	local log rc
	log=$(mktemp)
	echo "== programs (each from a package setup installs)"
	timeout 300 python3 tests/e2e/setup-programs.py >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|RESULT) ' "$log"
	count_e2e "$log" "$rc"
	rm -f "$log"
}

programs_check
# QDAMON_SKIP_QEMU=1 runs only the engine tests (for quick iterations).
[ "${QDAMON_SKIP_QEMU:-0}" = 1 ] || qemu_tests

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
