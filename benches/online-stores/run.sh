#!/usr/bin/env bash
# The online stores on the demo data (5,560 households, 22 features), in one
# run: the embedded store, Redis and Cassandra (the servers of
# scripts/services/up.sh, on this machine), each
#   - read directly: `quiver simulate --target store` at 1, 8 and 32 workers;
#   - read through `quiver serve` (HTTP/JSON, `--target http`), same levels;
#     the server's added latency is the HTTP percentile minus the direct one
#     at 1 worker (an upper bound: it includes the loopback round trip and
#     the client's own HTTP and JSON work);
#   - loaded: the 5,560 latest rows by `quiver materialize`, and the whole
#     3.5 M-row history by the `bulk_load` example, each into a new store;
# with the peers in the same run: redis-benchmark GETs beside Redis, and the
# DataStax Python driver doing one prepared SELECT per random id (the
# reference design's workload, cassandra_peer.py) beside Cassandra.
#
# Usage: [QUIVER=path/to/release/quiver] [REPO=DIR] benches/online-stores/run.sh [SECONDS]
#   QUIVER  a release build of the binary (default: $CARGO_TARGET_DIR/release/quiver,
#           as `cargo build --release --workspace --bins --examples` makes it;
#           the bulk_load example is taken from beside it, in examples/)
#   REPO    a repository where the demo job has run (default: made here)
#   SECONDS per measurement (default 10)
# Needs the servers: scripts/services/up.sh. Prints one line per measurement
# and keeps every simulate report under $OUT (default ./online-stores-bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-10}"
out="$(realpath -m "${OUT:-online-stores-bench}")"
quiver="${QUIVER:-${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}/release/quiver}"
[ -x "$quiver" ] || { echo "no release binary at $quiver (cargo build --release -p quiver-cli)" >&2; exit 1; }
services="${QUIVER_SERVICES_DIR:-${QUIVER_CACHE:-$HOME/.cache/quiver}/services}"
# shellcheck source=/dev/null
source "$services/env.sh" || { echo "start the servers first: scripts/services/up.sh" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
repo="${REPO:-}"
if [ -z "$repo" ]; then
  repo="$work/embedded"
  "$quiver" init "$repo" >/dev/null
  "$quiver" datagen energy --out "$repo/data/energy.csv" >&2
  "$quiver" apply --repo "$repo" >/dev/null
  "$quiver" run energy_features --repo "$repo" --quiet >&2
fi
tail -n +2 "$repo/data/energy.csv" | cut -d, -f1 | sort -u > "$work/ids.txt"

bulk_load="$(dirname "$quiver")/examples/bulk_load"
[ -x "$bulk_load" ] || { echo "no bulk_load example at $bulk_load (cargo build --release --workspace --examples)" >&2; exit 1; }
venv="${QUIVER_BENCH_VENV:-${QUIVER_CACHE:-$HOME/.cache/quiver}/bench-venv}"
if ! "$venv/bin/python" -c 'import cassandra' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'cassandra-driver==3.30.*'
fi

# A copy of the repository whose online store is the given table, empty, and
# whose offline table is the demo's.
make_repo() {
  local dir=$1 table=$2
  mkdir -p "$dir/data"
  cp -r "$repo/quiver.toml" "$repo/features" "$dir/"
  cp -r "$repo/data/offline" "$dir/data/"
  ln -s "$repo/data/energy.csv" "$dir/data/energy.csv"
  python3 - "$dir/quiver.toml" "$table" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
text = text[: text.index("\n[online_store]\n")] + "\n[online_store]\n" + table + "\n"
open(path, "w").write(text)
PY
  "$quiver" apply --repo "$dir" >/dev/null
}

seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

stamp=$(date +%s)
declare -A tables=(
  [embedded]='type = "embedded"'
  [redis]="type = \"redis\"
url = \"$QUIVER_TEST_REDIS_URL\"
key_prefix = \"bench_${stamp}_NAME\""
  [cassandra]="type = \"cassandra\"
contact_points = [\"$QUIVER_TEST_CASSANDRA\"]
keyspace = \"bench_${stamp}_NAME\""
)
stores=(embedded redis cassandra)

echo "$(date -u +%FT%TZ) on $(nproc) cores, ${seconds} s per measurement, 1 id per request, 22 features"

# Loads: each into a store of its own, empty.
for name in "${stores[@]}"; do
  dir="$work/$name-latest"
  make_repo "$dir" "${tables[$name]//NAME/latest}"
  start=$(date +%s.%N)
  "$quiver" materialize energy_features --repo "$dir" >"$work/$name-materialize.txt" 2>&1
  took=$(seconds_since "$start")
  printf 'load   %-10s 5,560 latest rows (quiver materialize) in %6.2f s  %9.0f rows/s, whole command\n' \
    "$name" "$took" "$(awk -v t="$took" 'BEGIN { print 5560 / t }')"
done
for name in "${stores[@]}"; do
  dir="$work/$name-history"
  make_repo "$dir" "${tables[$name]//NAME/history}"
  printf 'load   %-10s history (bulk_load)      ' "$name"
  "$bulk_load" "$dir" energy_features 2>/dev/null
done

# Reads: the stores loaded with the latest rows above.
measure() {
  local label=$1 name=$2 dir=$3 workers=$4; shift 4
  local report="$out/$label-$name-w$workers"
  "$quiver" simulate --repo "$dir" --ids-from "$work/ids.txt" --workers "$workers" \
    --warmup 2s --duration "${seconds}s" --quiet --out "$report" "$@" >/dev/null
  python3 - "$report/result.json" "$label" "$name" "$workers" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, t = r["response_time"]["summary"], r["totals"]
print(f"{sys.argv[2]:<6} {sys.argv[3]:<10} {sys.argv[4]:>3} workers  {t['throughput_rps']:>9,.0f} req/s  "
      f"p50 {s['p50_us']:>7.1f} µs  p99 {s['p99_us']:>8.1f} µs  p99.9 {s['p999_us']:>8.1f} µs  errors {t['errors']}")
PY
}

serve_pid=
start_server() {
  local dir=$1
  "$quiver" serve --repo "$dir" --http-addr 127.0.0.1:16566 --grpc-addr 127.0.0.1:16570 \
    >"$work/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 100); do
    curl -sf http://127.0.0.1:16566/ready >/dev/null && return 0
    sleep 0.1
  done
  echo "quiver serve did not become ready:" >&2; cat "$work/serve.log" >&2; return 1
}
stop_server() { [ -z "$serve_pid" ] || { kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; serve_pid=; }; }
trap 'stop_server; rm -rf "$work"' EXIT

# The peers, each right after the store it stands beside, at the same
# concurrency: redis-benchmark GETs of 209-byte values (the size of one
# packed row) over 5,560 random keys; the Python driver's prepared SELECT per
# random id on the table Quiver loaded.
port="${QUIVER_TEST_REDIS_URL##*:}"
redis-benchmark -p "$port" -t set -n 20000 -d 209 -r 5560 -q >/dev/null
redis_peer() {
  printf 'peer   redis-benchmark GET %3s clients  ' "$1"
  redis-benchmark -p "$port" -t get -n $((20000 * $1 < 200000 ? 20000 * $1 : 200000)) -d 209 -r 5560 -c "$1" -q --csv |
    python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
d = dict(zip(rows[0], rows[1]))
rps, p50, p99 = float(d["rps"]), float(d["p50_latency_ms"]) * 1000, float(d["p99_latency_ms"]) * 1000
print(f"{rps:>9,.0f} req/s  p50 {p50:>7.1f} µs  p99 {p99:>8.1f} µs")'
}
cassandra_peer() {
  printf 'peer   python-driver SELECT %3s in flight ' "$1"
  "$venv/bin/python" "$root/benches/online-stores/cassandra_peer.py" "$QUIVER_TEST_CASSANDRA" \
    "bench_${stamp}_latest" energy_features "$work/ids.txt" "$1" "$seconds"
}

for workers in 1 8 32; do
  measure store embedded "$work/embedded-latest" "$workers"
  measure store redis "$work/redis-latest" "$workers"
  redis_peer "$workers"
  measure store cassandra "$work/cassandra-latest" "$workers"
  cassandra_peer "$workers"
  for name in "${stores[@]}"; do
    start_server "$work/$name-latest"
    measure http "$name" "$work/$name-latest" "$workers" --target http --url http://127.0.0.1:16566
    curl -sf http://127.0.0.1:16566/metrics >"$out/metrics-$name-w$workers.txt"
    stop_server
  done
done

# What the server adds over a direct read, at 1 worker, seen by the client:
# the HTTP percentile minus the direct one.
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for name in ("embedded", "redis", "cassandra"):
    direct = json.load(open(f"{out}/store-{name}-w1/result.json"))["response_time"]["summary"]
    http = json.load(open(f"{out}/http-{name}-w1/result.json"))["response_time"]["summary"]
    print(f"added  {name:<10}   1 worker   HTTP minus direct: p50 {http['p50_us'] - direct['p50_us']:>7.1f} µs  "
          f"p99 {http['p99_us'] - direct['p99_us']:>8.1f} µs  p99.9 {http['p999_us'] - direct['p999_us']:>8.1f} µs")
PY

# And seen by the server: its own histograms (buckets of 25, 50, 100, 250 µs
# …), the time to answer a request (body, parse, store read, JSON) and the
# time of the store read inside it. The share answered within 100 µs, and
# the bucket each p99 falls in.
python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def buckets(text, metric, label):
    found = {}
    for line in text.splitlines():
        m = re.match(rf'{metric}_bucket{{(.*)}} (\S+)', line)
        if m and label in m.group(1):
            le = re.search(r'le="([^"]+)"', m.group(1)).group(1)
            found[float("inf") if le == "+Inf" else float(le)] = float(m.group(2))
    return sorted(found.items())
def describe(series):
    total = series[-1][1]
    within = dict(series).get(0.0001, 0) / total
    p99 = next(le for le, n in series if n >= 0.99 * total)
    return f"{within * 100:5.1f} % within 100 µs, p99 ≤ {p99 * 1e6:,.0f} µs"
for workers in (1, 8, 32):
    for name in ("embedded", "redis", "cassandra"):
        text = open(f"{out}/metrics-{name}-w{workers}.txt").read()
        request = buckets(text, "quiver_serve_request_seconds", 'endpoint="http_get_online_features"')
        read = buckets(text, "quiver_serve_store_read_seconds", 'view="energy_features"')
        print(f"server {name:<10} {workers:>3} workers  request: {describe(request)};  store read: {describe(read)}")
PY
