#!/usr/bin/env bash
# The online stores under `quiver simulate --target store`, on the demo data
# (5,560 households, 22 features), in one run: the embedded store, Redis and
# Cassandra (the servers of scripts/services/up.sh, on this machine), each at
# several concurrency levels, with redis-benchmark beside Redis as the peer.
# Also times loading each store with the 5,560 latest rows by `quiver run`
# on a copy whose offline table is complete (the run recomputes the view,
# commits nothing and writes every entity's latest row from the table):
# the embedded store's time is the job's own cost, the rest is the store's.
#
# Usage: [QUIVER=path/to/release/quiver] [REPO=DIR] benches/online-stores/run.sh [SECONDS]
#   QUIVER  a release build of the binary (default: $CARGO_TARGET_DIR/release/quiver,
#           as `cargo build --release -p quiver-cli` makes it)
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

# A copy of the repository whose online store is the given table; its offline
# table is the demo's, so `quiver run` finds no new rows and loads the store
# with every entity's latest row from the table (the repair step), timed.
with_store() {
  local name=$1 table=$2 dir="$work/$1"
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
  local start end
  start=$(date +%s.%N)
  "$quiver" run energy_features --repo "$dir" >"$work/$name-load.txt"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" -v n="$name" \
    'BEGIN { printf "load   %-10s 5,560 latest rows in %.2f s (%.0f rows/s, whole command)\n", n, b - a, 5560 / (b - a) }'
  grep -E "repaired|online" "$work/$name-load.txt" | sed 's/^/         /'
  store_dir=$dir
}

stamp=$(date +%s)
# The same load into a new embedded store: the job's own cost (it reads and
# recomputes the view's 3.5 M source rows first), for the ratio.
with_store embedded "type = \"embedded\""
with_store redis "type = \"redis\"
url = \"$QUIVER_TEST_REDIS_URL\"
key_prefix = \"bench_$stamp\""
redis_dir=$store_dir
with_store cassandra "type = \"cassandra\"
contact_points = [\"$QUIVER_TEST_CASSANDRA\"]
keyspace = \"bench_$stamp\""
cassandra_dir=$store_dir

measure() {
  local name=$1 dir=$2 workers=$3
  local report="$out/$name-w$workers"
  "$quiver" simulate --repo "$dir" --ids-from "$work/ids.txt" --workers "$workers" \
    --warmup 2s --duration "${seconds}s" --quiet --out "$report" >/dev/null
  python3 - "$report/result.json" "$name" "$workers" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, t = r["response_time"]["summary"], r["totals"]
print(f"store  {sys.argv[2]:<10} {sys.argv[3]:>3} workers  {t['throughput_rps']:>9,.0f} req/s  "
      f"p50 {s['p50_us']:>7.1f} µs  p99 {s['p99_us']:>8.1f} µs  p99.9 {s['p999_us']:>8.1f} µs  errors {t['errors']}")
PY
}

echo "$(date -u +%FT%TZ) on $(nproc) cores, ${seconds} s per measurement, 1 id per request, 22 features"
for workers in 1 8 32; do
  measure embedded "$repo" "$workers"
  measure redis "$redis_dir" "$workers"
  measure cassandra "$cassandra_dir" "$workers"
done

# The peer: redis-benchmark GETs of 209-byte values (the size of one packed
# row) over 5,560 random keys, at the same concurrency levels.
port="${QUIVER_TEST_REDIS_URL##*:}"
redis-benchmark -p "$port" -t set -n 20000 -d 209 -r 5560 -q >/dev/null
for clients in 1 8 32; do
  printf 'peer   redis-benchmark GET %3s clients  ' "$clients"
  redis-benchmark -p "$port" -t get -n 100000 -d 209 -r 5560 -c "$clients" -q --csv |
    python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
d = dict(zip(rows[0], rows[1]))
rps, p50, p99 = float(d["rps"]), float(d["p50_latency_ms"]) * 1000, float(d["p99_latency_ms"]) * 1000
print(f"{rps:>9,.0f} req/s  p50 {p50:>7.1f} µs  p99 {p99:>8.1f} µs")'
done
