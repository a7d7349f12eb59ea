#!/usr/bin/env bash
# `quiver serve` under load, on the demo data (5,560 households, 22 features
# plus key and event time), with two load generators in the same run:
# `quiver simulate` and wrk (an independent HTTP tool, `apt-get install wrk`).
# Server and generators share this machine, as issue 3 asks.
#
# Usage: [SERVER_THREADS=N] [HTTP_THREADS=N] [REPO=DIR] benches/serve/run.sh [SECONDS]
#        (default 20 s per measurement; REPO: a repository where the demo job
#        has run, else one is made)
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

# Server CPU time (user + system, clock ticks) and requests answered: their
# ratio per measurement is steadier than throughput on a shared machine.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$server/stat"; }
server_requests() {
  curl -fs http://127.0.0.1:6566/metrics | awk '/^quiver_serve_requests_total\{/ { n += $2 } END { print n + 0 }'
}

simulate() { # name, then simulate flags
  local name="$1"; shift
  local cpu0 requests0
  cpu0="$(server_cpu)"; requests0="$(server_requests)"
  "$quiver" simulate --repo "$repo" --ids-from "$ids" --warmup 3s \
    --duration "${seconds}s" --quiet --out "$out/$name" "$@" >"$out/$name.txt" 2>&1 \
    || { cat "$out/$name.txt" >&2; exit 1; }
  local cpu requests
  cpu="$(awk -v a="$cpu0" -v b="$(server_cpu)" 'BEGIN { print b - a }')"
  requests=$(( $(server_requests) - requests0 ))
  python3 - "$name" "$out/$name/result.json" "$cpu" "$requests" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
t, s = r["totals"], r["response_time"]["summary"]
cpu, requests = float(sys.argv[3]), int(sys.argv[4])
per_request = f", server CPU {cpu * 1e6 / requests:.1f} us/request" if requests else ""
print(f"{sys.argv[1]:<28} simulate: {t['throughput_rps']:,.0f} req/s ({t['ids_per_second']:,.0f} rows/s), "
      f"p50 {s['p50_us']:.0f} us, p99 {s['p99_us']:.0f} us, p99.9 {s['p999_us']:.0f} us, "
      f"errors {t['errors']}{per_request}")
PY
}

wrk_run() { # name, batch, connections
  printf '%-28s ' "$1"
  BATCH="$2" IDS_FILE="$ids" wrk -t1 -c"$3" -d"${seconds}s" \
    -s "$root/benches/serve/request.lua" http://127.0.0.1:6566 | grep '^wrk:'
}

simulate http-1id-closed --target http --workers 32
wrk_run http-1id-closed 1 32
simulate http-1id-open-20k --target http --rate 20000
# The generator's own floor at that rate, with nothing behind it.
simulate noop-open-20k --target noop --rate 20000
simulate http-100ids-closed --target http --workers 8 --batch-size 100
wrk_run http-100ids-closed 100 8
simulate grpc-1id-closed --target grpc --workers 32
simulate grpc-100ids-closed --target grpc --workers 8 --batch-size 100
simulate store-1id-closed --target store --workers 2
