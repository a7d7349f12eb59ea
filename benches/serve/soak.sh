#!/usr/bin/env bash
# A bounded soak test of `quiver serve` (issue 14; a benchmark, not a CI
# step): for SECONDS (default 180), all at once on the demo data,
#   - good clients: `quiver simulate` open loop, 1,000 req/s over HTTP and
#     300 req/s over gRPC, every feature of the view;
#   - hostile clients (hostile.py): idle sockets on both ports, half HTTP/2
#     prefaces, trickling bodies, oversized, malformed and non-HTTP requests;
#   - a job rewriting the view: `quiver run --start/--end` over its last
#     month, again and again.
# Passes when no good request failed, no hostile request got a 5xx, every
# job succeeded, and the server's memory is flat: its anonymous resident
# memory (the heap and stacks, sampled every 5 s) ends within 25 % of its
# value a third of the way in. The file pages it has resident (LMDB's map,
# which grows as the rewriting job touches pages and which the kernel may
# drop at will) are reported beside it, not judged.
#
# Usage: [QUIVER=release/quiver] [REPO=DIR] benches/serve/soak.sh [SECONDS]
set -euo pipefail
seconds="${1:-180}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
ulimit -n "$(ulimit -Hn)"
start_quiver
machine_line
echo "soak: ${seconds} s"

( while kill -0 "$server" 2>/dev/null; do
    echo "$(date +%s) $(awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s ", $2 }' "/proc/$server/status")"; sleep 5
  done ) > "$work/rss.txt" &
cleanups+=("kill $! 2>/dev/null")

( stop=$((SECONDS + seconds)); ok=0; failed=0
  while [ "$SECONDS" -lt "$stop" ]; do
    if "$quiver" run energy_features --repo "$repo" --start 2014-02-01 --end 2014-02-28 --quiet >>"$work/jobs.log" 2>&1
    then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  done
  echo "$ok $failed" > "$work/jobs.txt" ) &
jobs_pid=$!

python3 "$here/hostile.py" 6566 6570 "$seconds" > "$work/hostile.json" &
hostile_pid=$!
simulate() { # name, then flags
  local name="$1"; shift
  "$quiver" simulate --repo "$repo" --ids-from "$ids" --warmup 0s --duration "${seconds}s" \
    --quiet --out "$work/$name" "$@" > "$work/$name.txt" 2>&1
}
simulate good-http --target http --rate 1000 & http_pid=$!
simulate good-grpc --target grpc --rate 300 & grpc_pid=$!

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
for pid in $http_pid $grpc_pid; do wait "$pid" || fail "a simulate run stopped with an error"; done
wait "$hostile_pid" || fail "hostile.py stopped with an error"
wait "$jobs_pid"

for name in good-http good-grpc; do
  python3 - "$name" "$work/$name/result.json" <<'PY' || fail "$name had failed requests"
import json, sys
r = json.load(open(sys.argv[2]))
t, s = r["totals"], r["response_time"]["summary"]
print(f"{sys.argv[1]}: {t['requests']:,} requests, {t['errors']} failed, "
      f"p50 {s['p50_us']:.0f} us, p99 {s['p99_us']:.0f} us, p99.9 {s['p999_us']:.0f} us")
sys.exit(1 if t["errors"] else 0)
PY
done
echo "hostile: $(cat "$work/hostile.json")"
grep -q '5xx' "$work/hostile.json" && fail "a hostile request got a 5xx"
read -r jobs_ok jobs_failed < "$work/jobs.txt"
echo "jobs: $jobs_ok rewrote the view's last month, $jobs_failed failed"
[ "$jobs_failed" = 0 ] || { tail -20 "$work/jobs.log"; fail "a job failed"; }
python3 - "$work/rss.txt" <<'PY' || fail "the server's memory grew"
import sys
rows = [[int(x) for x in l.split()[1:]] for l in open(sys.argv[1]) if len(l.split()) == 4]
def line(name, samples):
    third, last, peak = samples[len(samples) // 3], samples[-1], max(samples)
    print(f"server {name}: {samples[0] / 1024:.0f} MiB at start, {third / 1024:.0f} MiB a third in, "
          f"{last / 1024:.0f} MiB at the end, {peak / 1024:.0f} MiB peak ({len(samples)} samples)")
    return last <= 1.25 * third
line("RSS", [r[0] for r in rows])
flat = line("anonymous memory (judged)", [r[1] for r in rows])
line("file pages (LMDB's map; not judged)", [r[2] for r in rows])
sys.exit(0 if flat else 1)
PY
echo "server warnings and errors (distinct messages):"
grep -iE '"level":"(ERROR|WARN)' "$work/serve.log" | grep -o '"message":"[^"]*"' | sort | uniq -c | sort -rn | head -5 || true
if [ "$failures" = 0 ]; then echo "PASS"; else echo "FAIL ($failures)"; exit 1; fi
