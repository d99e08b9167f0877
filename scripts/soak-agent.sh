#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Soak of the node agent: N containers that start Python processes again and
# again, followed for MINUTES by `pymac record --prometheus --rotate-mb`. It
# prints pymac's RSS and open descriptors over time, the lost counts (of the
# /metrics page and of every file), and whether each rotated file replays on
# its own (docs/reliability.md, "Node agent soak").
#
#   scripts/soak-agent.sh [--minutes M] [--containers N] [--rotate-mb MB]
#                         [--keep K] [--image IMAGE] [--dir DIR] [--pymac PATH]
#
# The containers carry a compose project label of their own, and pymac
# follows that project (--compose-project), so that containers other people
# run on the machine stay out of the figures; everything else is what
# --all-containers does. Exit status 0 when RSS and the descriptor floor are
# flat, nothing was lost and every file replays complete.
set -u

minutes=10 containers=8 rotate_mb=4 keep=50 image=pymaccounter/python:3.11
dir="" pymac="$(dirname "$0")/../.output/pymac"
while [ $# -gt 0 ]; do
	case "$1" in
	--minutes) minutes=$2; shift 2 ;;
	--containers) containers=$2; shift 2 ;;
	--rotate-mb) rotate_mb=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--pymac) pymac=$2; shift 2 ;;
	*) echo "soak-agent: unknown argument '$1' (see the head of $0)" >&2; exit 2 ;;
	esac
done
case "$minutes$containers$rotate_mb$keep" in
*[!0-9.]*) echo "soak-agent: --minutes, --containers, --rotate-mb and --keep are numbers" >&2; exit 2 ;;
esac
[ -x "$pymac" ] || { echo "soak-agent: no pymac at $pymac (run make)" >&2; exit 2; }
docker image inspect "$image" >/dev/null 2>&1 ||
	{ echo "soak-agent: no image $image (scripts/build-image.sh)" >&2; exit 2; }
[ -n "$dir" ] || dir=$(mktemp -d /tmp/pymac-soak-agent.XXXXXX)
mkdir -p "$dir" || exit 2
project="pymac-agent-soak-$$"
agent=""

cleanup() {
	[ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null
	docker ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r docker rm -f >/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Each container: a Python run about every second (a new process each time:
# exec and exit churn), with objects, cycles and a collection.
work='import gc
x = [[i, str(i) * 3, {"k": i}] for i in range(20000)]
c = []; c.append(c)
del x, c
gc.collect()'
for i in $(seq 1 "$containers"); do
	docker run -d --name "$project-w$i" --network none --read-only \
		--label "com.docker.compose.project=$project" \
		--label "com.docker.compose.service=w$i" \
		"$image" sh -c "while :; do python3 -c '$work'; sleep 1; done" >/dev/null ||
		{ echo "soak-agent: cannot start container $i" >&2; exit 1; }
done

"$pymac" record -o "$dir/agent.pmt" --compose-project "$project" --prometheus 127.0.0.1:0 \
	--rotate-mb "$rotate_mb" --keep "$keep" 2>"$dir/pymac.err" &
agent=$!
for _ in $(seq 1 600); do
	grep -q "^pymac: tracing" "$dir/pymac.err" && break
	kill -0 "$agent" 2>/dev/null || { echo "soak-agent: pymac ended:" >&2; tail "$dir/pymac.err" >&2; exit 1; }
	sleep 0.1
done
url=$(sed -n 's/^pymac: serving metrics at \(http:[^ ]*\)$/\1/p' "$dir/pymac.err" | head -1)
echo "soak-agent: $containers containers, $minutes min, --rotate-mb $rotate_mb, in $dir; metrics $url"

end=$(($(date +%s) + ${minutes%.*} * 60))
printf 't_s\trss_kib\tfds\tlost\tevents\n' >"$dir/samples.tsv"
start=$(date +%s)
while [ "$(date +%s)" -lt "$end" ]; do
	kill -0 "$agent" 2>/dev/null || { echo "soak-agent: pymac ended early:" >&2; tail "$dir/pymac.err" >&2; exit 1; }
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$agent/status")
	fds=$(ls "/proc/$agent/fd" | wc -l)
	page=$(curl -s --max-time 5 "$url")
	lost=$(printf '%s\n' "$page" | awk '/^pymac_lost_events_all_total / {print $2}')
	events=$(printf '%s\n' "$page" | awk '/^pymac_events_received_total / {print $2}')
	printf '%s\t%s\t%s\t%s\t%s\n' $(($(date +%s) - start)) "$rss" "$fds" "${lost:-?}" "${events:-?}" >>"$dir/samples.tsv"
	sleep 5
done

kill -TERM "$agent"
wait "$agent"
status=$?
agent=""
tail -1 "$dir/pymac.err"
[ "$status" = 0 ] || echo "soak-agent: pymac exited $status on SIGTERM"

/usr/bin/python3 - "$dir" "$pymac" "$status" <<'EOF'
import glob, json, os, statistics, subprocess, sys

d, pymac, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [l.split("\t") for l in open(os.path.join(d, "samples.tsv")).read().splitlines()[1:]]
rows = [r for r in rows if r[1].isdigit()]
ok = status == 0
if len(rows) >= 6:
    # the first minute is warm-up; then thirds
    body = [r for r in rows if int(r[0]) >= 60] or rows
    third = max(1, len(body) // 3)
    first, last = body[:third], body[-third:]
    rss0 = statistics.median(int(r[1]) for r in first)
    rss1 = statistics.median(int(r[1]) for r in last)
    fd0 = min(int(r[2]) for r in first)
    fd1 = min(int(r[2]) for r in last)
    flat = rss1 <= rss0 * 1.10 + 2048 and fd1 <= fd0
    ok &= flat
    print("soak-agent: RSS median %d -> %d KiB, descriptor floor %d -> %d: %s"
          % (rss0, rss1, fd0, fd1, "flat" if flat else "NOT FLAT"))
    print("soak-agent: samples: " + " ".join("%ss:%sKiB/%sfd" % (r[0], r[1], r[2]) for r in rows[:: max(1, len(rows) // 8)]))
lost = [r[3] for r in rows if r[3] not in ("?", "0")]
ok &= not lost
print("soak-agent: /metrics lost: %s" % ("0 in every sample" if not lost else "NOT 0: %s" % lost[:5]))
files = sorted(glob.glob(os.path.join(d, "agent*.pmt")), key=os.path.getmtime)
total = 0
for f in files:
    res = subprocess.run([pymac, "replay", f, "--summary", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    if res.returncode:
        ok = False
        print("soak-agent: %s: replay failed: %s" % (os.path.basename(f), res.stderr.strip()[:200]))
        continue
    s = json.loads(res.stdout)
    t = s["trace"]
    total += t["events"]
    conts = [c for c in s["containers"] if c.get("runtime") != "host"]
    procs = len(s["processes"])
    good = t["complete"] and t["lost"] == 0 and conts
    ok &= bool(good)
    print("soak-agent: %s: %d bytes, %d events, %d lost, %s, %d containers, %d processes%s"
          % (os.path.basename(f), os.path.getsize(f), t["events"], t["lost"],
             "complete" if t["complete"] else "NOT COMPLETE", len(conts), procs, "" if good else "  <- FAIL"))
print("soak-agent: %d files, %d events in all" % (len(files), total))
print("soak-agent: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
EOF
