#!/usr/bin/env bash
# The server's CPU time per request, for two or more `quiver` binaries in
# the same run (the previous version against the new one), rounds
# alternating the binaries. What the nginx ratios follow, measured where
# the machine's noise cancels: a closed loop's throughput moves with the
# load beside it, the CPU a request costs much less. Per binary and round:
#   - HTTP: wrk, 1 thread, 64 connections, the Feast request for 1 id;
#   - gRPC: `quiver simulate --target grpc`, 32 workers (the newest
#     binary's generator for every server): 1 id with columnar answers,
#     1 id with Feast-shaped answers, and 100 ids columnar (8 workers), so
#     a change to how answers leave is seen below and above h2's 1 KiB
#     copy threshold; then 1 id columnar again with the 32 workers'
#     calls multiplexed on one connection (`--connections 1`), as the
#     callers of one gRPC channel make them.
# Each line: requests/s, and the server process's user + system CPU (from
# /proc) per request it answered (its own counter), over the whole
# measurement.
#
# Usage: [ROUNDS=2] [REPO=DIR] benches/serve/cpu.sh [SECONDS] QUIVER_BIN...
#        (default 8 s per measurement)
set -euo pipefail
seconds=8
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
[ $# -ge 1 ] || { echo "usage: $0 [SECONDS] QUIVER_BIN..." >&2; exit 2; }
binaries=("$@")
rounds="${ROUNDS:-2}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
QUIVER="${binaries[-1]}"
source "$(dirname "$0")/common.sh"
generator="$quiver"

machine_line
echo "$rounds rounds of ${seconds} s per measurement"
printf 'binary\tmeasure\treq/s\tcpu_us_per_req\n'
results="$work/results.tsv"
grpc_measure() { # name workers batch rpc [simulate flags...]
  server_mark
  "$generator" simulate --repo "$repo" --ids-from "$ids" --target grpc --workers "$2" \
    --batch-size "$3" --grpc-rpc "$4" "${@:5}" --warmup 1s --duration "${seconds}s" --quiet --out "$work/sim" \
    >"$work/sim.txt" 2>&1 || { cat "$work/sim.txt" >&2; exit 1; }
  rps=$(python3 -c "import json, sys; print(round(json.load(open(sys.argv[1]))['totals']['throughput_rps']))" \
    "$work/sim/result.json")
  printf '%s\t%s\t%s\t%s\n' "$binary" "$1" "$rps" "$(server_us_per_request)" | tee -a "$results"
}
for _ in $(seq "$rounds"); do
  for binary in "${binaries[@]}"; do
    quiver="$binary" start_quiver
    server_mark
    rps=$(BATCH=1 IDS_FILE="$ids" wrk -t1 -c64 -d"${seconds}s" -s "$root/benches/serve/request.lua" \
      "http://127.0.0.1:6566" | awk '/^wrk:/ { gsub(",", ""); print $2 }')
    [ -n "$rps" ] || { echo "wrk reported nothing against $binary" >&2; exit 1; }
    printf '%s\thttp-1id-wrk\t%s\t%s\n' "$binary" "$rps" "$(server_us_per_request)" | tee -a "$results"

    grpc_measure grpc-1id-simulate 32 1 columnar
    grpc_measure grpc-1id-feast 32 1 feast
    grpc_measure grpc-100id-simulate 8 100 columnar
    grpc_measure grpc-1id-shared 32 1 columnar --connections 1
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
  done
done
python3 - "$results" "${binaries[@]}" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
binaries = sys.argv[2:]
print("\nmedians over rounds (req/s, server CPU per request), and each binary / the first:")
for measure in ("http-1id-wrk", "grpc-1id-simulate", "grpc-1id-feast", "grpc-100id-simulate",
                "grpc-1id-shared"):
    if not any(r[1] == measure for r in rows):
        continue
    first = None
    for binary in binaries:
        mine = [r for r in rows if r[0] == binary and r[1] == measure]
        rps = statistics.median(float(r[2]) for r in mine)
        cpu = statistics.median(float(r[3]) for r in mine)
        first = first or (rps, cpu)
        print(f"{measure:<19} {binary}: {rps:,.0f} req/s ({rps / first[0]:.2f}x), "
              f"{cpu:.2f} us CPU per request ({cpu / first[1]:.2f}x)")
PY
