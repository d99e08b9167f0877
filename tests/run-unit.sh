#!/bin/bash
# Run cmocka unit test binaries, pass their output through, and total them.
# Usage: tests/run-unit.sh BIN...
# The last line is always "unit: N passed, N failed, N skipped" (tests/run.sh
# reads it). A binary that crashes, or exits non-zero without reporting a
# failed test, counts as one failure; so does one that reports no test at all.
# Exit status: 0 if nothing failed and at least one test ran, 1 otherwise.

total_pass=0
total_fail=0
total_skip=0

for bin in "$@"; do
	echo "=== $bin"
	out=$(mktemp)
	if [ -x "$bin" ]; then
		# cmocka writes progress to stdout and the totals to stderr; keep them
		# in order in one stream.
		"$bin" >"$out" 2>&1
		rc=$?
	else
		echo "run-unit: $bin: not an executable" >"$out"
		rc=127
	fi
	cat "$out"
	# cmocka: "[  PASSED  ] 3 test(s).", "[  FAILED  ] 1 test(s), listed
	# below:", "[  SKIPPED ] 1 test(s), listed below:", one set per group.
	read -r pass fail skip < <(awk '
		/^\[  PASSED  \] [0-9]+ test\(s\)/  { sub(/^\[  PASSED  \] /, ""); p += $1 + 0 }
		/^\[  FAILED  \] [0-9]+ test\(s\)/  { sub(/^\[  FAILED  \] /, ""); f += $1 + 0 }
		/^\[  SKIPPED \] [0-9]+ test\(s\)/  { sub(/^\[  SKIPPED \] /, ""); s += $1 + 0 }
		END { printf "%d %d %d\n", p, f, s }' "$out")
	rm -f "$out"
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		if [ "$rc" -gt 128 ]; then
			echo "run-unit: $bin: killed by signal $((rc - 128))"
		else
			echo "run-unit: $bin: exit status $rc without a reported failure"
		fi
		fail=1
	elif [ $((pass + fail + skip)) -eq 0 ]; then
		echo "run-unit: $bin: ran no test"
		fail=1
	fi
	echo "=== $bin: $pass passed, $fail failed, $skip skipped"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
done

echo "unit: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
