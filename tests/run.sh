#!/bin/bash
# The whole test suite: the cmocka unit tests built by `make`
# (.output/tests/test_*), then the pytest integration suite.
# The last line printed is exactly "pymac: N passed, N failed, N skipped",
# summed over both. Exit status: non-zero if anything failed or nothing ran.

cd "$(dirname "$0")/.." || exit 1

pass=0
fail=0
skip=0

# --- unit tests
bins=()
for b in .output/tests/test_*; do
	[ -f "$b" ] && [ -x "$b" ] && bins+=("$b")
done
if [ "${#bins[@]}" -gt 0 ]; then
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
else
	echo "run.sh: no unit test binaries in .output/tests"
fi

# --- integration tests
junit_dir=$(mktemp -d)
junit="$junit_dir/integration.xml"
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --junitxml="$junit" tests/integration
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

rc=0
if [ "$fail" -ne 0 ] || [ $((pass + fail)) -eq 0 ]; then
	rc=1
fi
echo "pymac: $pass passed, $fail failed, $skip skipped"
exit $rc
