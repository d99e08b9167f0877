#!/bin/bash
# The whole test suite, in two passes:
#  1. the plain build (.output): the cmocka unit tests, then the pytest
#     integration suite (which also replays the fuzz corpus under ASan and
#     UBSan: the fuzzers are always built with them);
#  2. the ASan/UBSan build (.output-san, `make SANITIZE=1`): the unit tests
#     again, and the integration tests that drive pymac through its error
#     paths (full disks, damaged traces, signals, exports, the live view).
# With --sanitize only pass 2 runs, on the build in $PYMAC_OUTPUT.
# The last line printed is exactly "pymac: N passed, N failed, N skipped",
# summed over everything. Exit status: non-zero if anything failed or
# nothing ran.

cd "$(dirname "$0")/.." || exit 1

pass=0
fail=0
skip=0

# The integration tests of the ASan/UBSan pass.
SAN_TESTS=(
	tests/integration/test_record_cli.py
	tests/integration/test_replay_truncated.py
	tests/integration/test_faults.py
	tests/integration/test_exports.py
	tests/integration/test_live.py
	tests/integration/test_metrics_server.py
	tests/integration/test_write_errors.py
	tests/integration/test_reliability_quick.py
	tests/integration/test_run.py
)

# run_unit DIR: every cmocka binary in DIR/tests
run_unit() {
	local bins=() unit_log totals b
	for b in "$1"/tests/test_*; do
		[ -f "$b" ] && [ -x "$b" ] && bins+=("$b")
	done
	if [ "${#bins[@]}" -eq 0 ]; then
		echo "run.sh: no unit test binaries in $1/tests"
		fail=$((fail + 1))
		return
	fi
	unit_log=$(mktemp)
	tests/run-unit.sh "${bins[@]}" | tee "$unit_log"
	totals=$(tail -n 1 "$unit_log")
	rm -f "$unit_log"
	if [[ "$totals" =~ ^unit:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
		pass=$((pass + BASH_REMATCH[1]))
		fail=$((fail + BASH_REMATCH[2]))
		skip=$((skip + BASH_REMATCH[3]))
	else
		echo "run.sh: could not read the unit test totals: $totals"
		fail=$((fail + 1))
	fi
}

# run_pytest OUTPUT_DIR ARGS...: pytest with the binaries of OUTPUT_DIR
run_pytest() {
	local out=$1 junit_dir junit totals pytest_rc ip if_ is
	shift
	junit_dir=$(mktemp -d)
	junit="$junit_dir/integration.xml"
	PYMAC_OUTPUT="$out" /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider \
		--junitxml="$junit" "$@"
	pytest_rc=$?
	# junit's testsuite element counts tests, failures, errors and skipped.
	totals=$(/usr/bin/python3 - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    sys.exit(1)
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = s = 0
for suite in suites:
    t += int(suite.get("tests", 0))
    f += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    s += int(suite.get("skipped", 0))
print(t - f - s, f, s)
PY
	)
	rm -rf "$junit_dir"
	if read -r ip if_ is <<<"$totals" && [ -n "$is" ]; then
		pass=$((pass + ip))
		fail=$((fail + if_))
		skip=$((skip + is))
		# pytest fails without a failed test for e.g. a usage error or an
		# interrupted run; do not let that pass silently.
		if [ "$pytest_rc" -ne 0 ] && [ "$pytest_rc" -ne 5 ] && [ "$if_" -eq 0 ]; then
			echo "run.sh: pytest exit status $pytest_rc"
			fail=$((fail + 1))
		fi
	else
		echo "run.sh: pytest (exit $pytest_rc) left no readable report"
		fail=$((fail + 1))
	fi
}

sanitize_pass() {
	local out=$1
	echo "=== ASan/UBSan pass ($out)"
	# a leak, an overflow or undefined behaviour ends the process with an error
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_unit "$out"
	run_pytest "$out" "${SAN_TESTS[@]}"
	unset ASAN_OPTIONS UBSAN_OPTIONS
}

if [ "${1:-}" = --sanitize ]; then
	sanitize_pass "${PYMAC_OUTPUT:-.output-san}"
else
	run_unit .output
	run_pytest .output tests/integration
	if make --no-print-directory -s SANITIZE=1 all unit-bins >/dev/null; then
		sanitize_pass .output-san
	else
		echo "run.sh: the ASan/UBSan build failed (make SANITIZE=1)"
		fail=$((fail + 1))
	fi
fi

rc=0
if [ "$fail" -ne 0 ] || [ $((pass + fail)) -eq 0 ]; then
	rc=1
fi
echo "pymac: $pass passed, $fail failed, $skip skipped"
exit $rc
