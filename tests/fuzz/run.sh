#!/bin/sh
# Run the libFuzzer targets built by tests/fuzz/fuzz.mk.
#   run.sh fuzz NAME...     fuzz each for $FUZZ_SECONDS on a copy of its corpus
#   run.sh regress NAME...  run each corpus and crash input once
# Fuzzers live in $FUZZ_DIR (default .output/fuzz); corpora in
# tests/fuzz/corpus/NAME, crash inputs kept as regression tests in
# tests/fuzz/crashes/NAME. Exit status 1 if any fuzzer crashed.
set -u
cd "$(dirname "$0")/../.."
FUZZ_DIR=${FUZZ_DIR:-.output/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
mode=${1:?usage: run.sh fuzz|regress NAME...}
shift
status=0

# The input files of a directory (nothing when it does not exist).
inputs() {
	[ -d "$1" ] && find "$1" -type f ! -name 'README*' ! -name '.*' | sort
}

for name in "$@"; do
	bin=$FUZZ_DIR/fuzz_$name
	work=$FUZZ_DIR/work/$name
	log=$work/log
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/artifacts"
	case $mode in
	fuzz)
		# A copy: new inputs must not land in the repository by accident.
		inputs tests/fuzz/corpus/$name | xargs -r cp -t "$work/corpus"
		"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
			-artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1
		rc=$?
		crashes=$(find "$work/artifacts" -type f | wc -l)
		last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
		execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		printf 'fuzz_%-11s rc=%d exec/s=%s %s\n' "$name" "$rc" "${execs:-?}" \
			"$(echo "$last" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+')"
		printf '  crashes: %d' "$crashes"
		[ "$crashes" -gt 0 ] && printf ' (%s)' "$(find "$work/artifacts" -type f | tr '\n' ' ')"
		printf '\n  log: %s, grown corpus: %s\n' "$log" "$work/corpus"
		if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
			status=1
		fi
		;;
	regress)
		files=$( (inputs tests/fuzz/corpus/$name; inputs tests/fuzz/crashes/$name) )
		n=$(printf '%s\n' "$files" | grep -c .)
		if [ "$n" -eq 0 ]; then
			printf 'fuzz_%-11s no inputs\n' "$name"
			status=1
			continue
		fi
		# Files as arguments: each runs once, nothing is mutated or written.
		printf '%s\n' "$files" | xargs "$bin" -timeout=10 \
			-artifact_prefix="$work/artifacts/" >"$log" 2>&1
		rc=$?
		if [ "$rc" -eq 0 ]; then
			printf 'fuzz_%-11s %d inputs ok\n' "$name" "$n"
		else
			printf 'fuzz_%-11s FAILED (rc=%d) on %s; log: %s\n' "$name" "$rc" \
				"$(sed -n 's/^Running: //p' "$log" | tail -n 1)" "$log"
			status=1
		fi
		;;
	*)
		echo "run.sh: unknown mode $mode" >&2
		exit 2
		;;
	esac
done
exit $status
