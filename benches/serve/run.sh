#!/usr/bin/env bash
# `quiver serve` under load, on the demo data (5,560 households, 22 features
# plus key and event time), with independent load generators in the same
# run: `quiver simulate` over HTTP and gRPC (both answer shapes), wrk for
# HTTP (`apt-get install wrk`) and ghz for gRPC (`go install
# github.com/bojand/ghz/cmd/ghz@v0.120.0`), 1-id and 100-id requests. Each
# line also gives the server's CPU time per request, which does not depend
# on how hungry the generator is. Server and generators share this machine.
#
# Usage: [SERVER_THREADS=N] [HTTP_THREADS=N] [QUIVER=release/quiver] [REPO=DIR] [ONLY=REGEX] benches/serve/run.sh [SECONDS]
#        (default 20 s per measurement; REPO: a repository where the demo job
#        has run, else one is made; ONLY: run just the measurements whose
#        name matches, e.g. ONLY='100ids' or ONLY='1id-closed')
# Writes every simulate report under $OUT (default ./serve-bench) and prints
# one line per measurement.
set -euo pipefail
seconds="${1:-20}"
out="$(realpath -m "${OUT:-serve-bench}")"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
source "$(dirname "$0")/common.sh"
mkdir -p "$out"

# SERVER_THREADS=N gives the server N Tokio workers (default: one per core);
# HTTP_THREADS=N serves HTTP from N single-threaded runtimes instead (default 0).
start_quiver TOKIO_WORKER_THREADS="${SERVER_THREADS:-$(nproc)}" QUIVER_HTTP_THREADS="${HTTP_THREADS:-0}"

machine_line
echo "ids: $(wc -l < "$ids"), every request asks for all 22 features of energy_features; server threads: ${SERVER_THREADS:-$(nproc)}, HTTP threads: ${HTTP_THREADS:-0}"

server_cost() { # ", server CPU N us/request" since server_mark
  local cost
  cost="$(server_us_per_request)"
  if [ -n "$cost" ]; then printf ', server CPU %.1f us/request' "$cost"; fi
}

# Whether measurement NAME is to run (ONLY, a bash regex, default all).
wanted() { [[ "$1" =~ ${ONLY:-.} ]]; }

simulate() { # name, then simulate flags
  local name="$1"; shift
  wanted "$name" || return 0
  server_mark
  "$quiver" simulate --repo "$repo" --ids-from "$ids" --warmup 3s \
    --duration "${seconds}s" --quiet --out "$out/$name" "$@" >"$out/$name.txt" 2>&1 \
    || { cat "$out/$name.txt" >&2; exit 1; }
  local cost; cost="$(server_cost)"
  python3 - "$name" "$out/$name/result.json" "$cost" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
t, s = r["totals"], r["response_time"]["summary"]
print(f"{sys.argv[1]:<30} simulate: {t['throughput_rps']:,.0f} req/s ({t['ids_per_second']:,.0f} rows/s), "
      f"p50 {s['p50_us']:.0f} us, p99 {s['p99_us']:.0f} us, p99.9 {s['p999_us']:.0f} us, "
      f"errors {t['errors']}{sys.argv[3]}")
PY
}

wrk_run() { # name, batch, connections
  wanted "$1" || return 0
  server_mark
  local line; line="$(BATCH="$2" IDS_FILE="$ids" wrk -t1 -c"$3" -d"${seconds}s" \
    -s "$root/benches/serve/request.lua" http://127.0.0.1:6566 | grep '^wrk:')"
  printf '%-30s %s%s\n' "$1" "$line" "$(server_cost)"
}

# ghz, an independent gRPC load generator (Go), on the first BATCH ids of
# the file for every call: NAME, RPC, BATCH, CONCURRENCY.
ghz_bin="${GHZ:-$(command -v ghz || echo "$HOME/go/bin/ghz")}"
ghz_run() {
  wanted "$1" || return 0
  [ -x "$ghz_bin" ] || { printf '%-30s ghz not installed (go install github.com/bojand/ghz/cmd/ghz@v0.120.0)\n' "$1"; return; }
  python3 - "$ids" "$3" > "$work/ghz-$1.json" <<'PY'
import json, os, sys
ids = [l.strip() for l in open(sys.argv[1])][: int(sys.argv[2])]
print(json.dumps({"features": {"val": os.environ["FEATURES"].split(",")},
                  "entities": {"id": {"val": [{"string_val": i} for i in ids]}}}))
PY
  server_mark
  "$ghz_bin" --insecure --proto "$root/proto/quiver/serving/v1/serving.proto" --import-paths "$root/proto" \
    --call "quiver.serving.v1.ServingService/$2" -D "$work/ghz-$1.json" -c "$4" --connections "$4" \
    -z "${seconds}s" --format json 127.0.0.1:6570 > "$work/ghz-$1.out" 2>&1 || { cat "$work/ghz-$1.out" >&2; exit 1; }
  python3 - "$1" "$work/ghz-$1.out" "$3" "$(server_cost)" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
p = {d["percentage"]: d["latency"] / 1000 for d in r["latencyDistribution"] or []}
codes = r.get("statusCodeDistribution") or {}
errors = sum(n for code, n in codes.items() if code != "OK")
# ghz counts the calls still in flight when its duration ends as errors.
kinds = "; ".join(f"{n}x {text[:60]}" for text, n in (r.get("errorDistribution") or {}).items())
print(f"{sys.argv[1]:<30} ghz: {r['rps']:,.0f} req/s ({r['rps'] * int(sys.argv[3]):,.0f} rows/s), "
      f"p50 {p.get(50, 0):.0f} us, p99 {p.get(99, 0):.0f} us, errors {errors}{sys.argv[4]}"
      + (f" [{kinds}]" if kinds else ""))
PY
}

simulate http-1id-closed --target http --workers 32
wrk_run http-1id-closed 1 32
simulate grpc-columnar-1id-closed --target grpc --workers 32
simulate grpc-feast-1id-closed --target grpc --grpc-rpc feast --workers 32
# The same 32 workers' calls multiplexed on one connection, as on one gRPC channel.
simulate grpc-columnar-1id-shared --target grpc --workers 32 --connections 1
ghz_run ghz-columnar-1id-closed GetOnlineFeaturesColumnar 1 32
ghz_run ghz-feast-1id-closed GetOnlineFeatures 1 32
simulate http-100ids-closed --target http --workers 8 --batch-size 100
wrk_run http-100ids-closed 100 8
simulate grpc-columnar-100ids-closed --target grpc --workers 8 --batch-size 100
simulate grpc-feast-100ids-closed --target grpc --grpc-rpc feast --workers 8 --batch-size 100
ghz_run ghz-columnar-100ids-closed GetOnlineFeaturesColumnar 100 8
ghz_run ghz-feast-100ids-closed GetOnlineFeatures 100 8
simulate http-1id-open-20k --target http --rate 20000
# The generator's own floor at that rate, with nothing behind it.
simulate noop-open-20k --target noop --rate 20000
simulate store-1id-closed --target store --workers 2
