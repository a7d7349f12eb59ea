#!/usr/bin/env bash
# `quiver serve` beside nginx, the machine's own limit for an HTTP answer
# (issue 14, "Speed, measured against the machine's own limit"): nginx (the
# Debian package) answers POST /get-online-features with a static copy of
# Quiver's own answer to a 1-id request for all 22 features, and the
# columnar gRPC call for the same id (HTTP/2 without TLS, the captured
# answer and a `grpc-status: 0` trailer), so both send the same bytes over
# the same loopback to the same generators. Rounds alternate nginx and
# Quiver, each measured
#   - open loop: `quiver simulate --target http --rate 20000`, then 10000;
#   - closed loop: wrk, 1 thread, 64 connections, the Feast request
#     (request.lua, BATCH=1);
#   - closed loop through `quiver simulate`, 32 workers, over HTTP/1.1 and
#     then gRPC (a connection per worker, then all 32 on one connection, as
#     on one gRPC channel): what one call costs each server on each
#     protocol, and so what HTTP/2 itself costs nginx beside what it costs
#     Quiver;
# with the CPU time the server's processes spent per request in every
# closed loop (the cost the ratios follow).
# With FLOOR (default: the trivial_http_server example next to the binary,
# if built), a third server answers the same static JSON through the Rust
# stack Quiver's HTTP port uses (axum, hyper, Tokio with a worker per core):
# that stack's floor beside nginx's, in both HTTP closed loops.
# Both servers use every core (nginx: worker_processes auto; Quiver: its
# defaults) and keep connections open as long as the client does.
#
# Usage: [ROUNDS=2] [QUIVER=release/quiver] [REPO=DIR] [FLOOR=bin|none]
#        benches/serve/nginx.sh [SECONDS]
#        (default 10 s per measurement). Prints one line per measurement,
#        then the medians and the ratios Quiver / nginx.
set -euo pipefail
seconds="${1:-10}"
rounds="${ROUNDS:-2}"
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
source "$(dirname "$0")/common.sh"
start_quiver

# Quiver's answer to one id, as nginx will send it.
features=$(python3 -c 'import json, os; print(json.dumps(os.environ["FEATURES"].split(",")))')
curl -fs http://127.0.0.1:6566/get-online-features -H 'Content-Type: application/json' \
  -d "{\"entities\":{\"id\":[\"$(head -1 "$ids")\"]},\"features\":$features}" > "$work/answer.json"
grep -q '"PRESENT"' "$work/answer.json" || { echo "Quiver's answer has no value:" >&2; cat "$work/answer.json" >&2; exit 1; }
case "$(cat "$work/answer.json")" in *\'*|*\$*) echo "the answer cannot be quoted in nginx.conf" >&2; exit 1 ;; esac

# Quiver's columnar gRPC answer to the same request, framed as it goes on
# the wire. The request is encoded here (protobuf's wire format, field
# numbers from serving.proto) so the script needs no protobuf package.
rpc=/quiver.serving.v1.ServingService/GetOnlineFeaturesColumnar
python3 - "$(head -1 "$ids")" > "$work/request.grpc" <<'PY'
import os, sys
def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
def field(number, payload):  # a length-delimited field
    return varint(number << 3 | 2) + varint(len(payload)) + payload
features = b"".join(field(1, f.encode()) for f in os.environ["FEATURES"].split(","))
ids = field(2, field(1, field(1, sys.argv[1].encode())))  # RepeatedValue{val: [Value{string_val}]}
request = field(2, features) + field(3, field(1, b"id") + ids)  # features, entities["id"]
sys.stdout.buffer.write(b"\0" + len(request).to_bytes(4, "big") + request)
PY
grpc_call() { # port request answer
  curl -fs --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$2" "http://127.0.0.1:$1$rpc" -o "$3"
}
mkdir -p "$work/nginx/grpc/${rpc%/*}"
grpc_call 6570 "$work/request.grpc" "$work/nginx/grpc$rpc"
[ "$(wc -c < "$work/nginx/grpc$rpc")" -gt 500 ] || { echo "Quiver's gRPC answer is too short" >&2; exit 1; }
# nginx's workers (not root) read it: the work folder is mktemp's, private.
chmod a+x "$work" && chmod -R a+rX "$work/nginx"

mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_buffer_size 16k;
  server {
    listen 127.0.0.1:6580 backlog=4096;
    location = /get-online-features {
      default_type application/json;
      return 200 '$(cat "$work/answer.json")';
    }
  }
  # gRPC: HTTP/2 without TLS, the static file (static files answer only
  # GET, so the POST is turned into a GET of the same file), and the
  # trailer that ends every gRPC answer.
  server {
    listen 127.0.0.1:6581 http2 backlog=4096;
    root $work/nginx/grpc;
    etag off;
    server_tokens off;
    location = $rpc {
      default_type application/grpc;
      add_trailer grpc-status 0 always;
      error_page 405 =200 \$uri;
    }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
cleanups+=("kill \$(cat '$work/nginx/nginx.pid') 2>/dev/null")
for _ in $(seq 50); do curl -fs -X POST http://127.0.0.1:6580/get-online-features >/dev/null && break; sleep 0.1; done
cmp <(curl -fs -X POST http://127.0.0.1:6580/get-online-features) "$work/answer.json" \
  || { echo "nginx does not send Quiver's answer" >&2; exit 1; }
# nginx answers with the file without reading the request's body, then
# resets the stream (as HTTP/2 allows); curl, which sends the body in a
# write of its own, often sees that reset before its upload ends and fails
# (exit code 92). So the bytes are checked with an empty request; under
# load grpc-status is checked by the generator, whose errors column counts
# every call that ends without an OK one.
grpc_call 6581 /dev/null "$work/nginx-answer.grpc"
cmp "$work/nginx-answer.grpc" "$work/nginx/grpc$rpc" || { echo "nginx does not send Quiver's gRPC answer" >&2; exit 1; }

# The Rust stack's floor: the same static JSON through axum and hyper.
floor="${FLOOR:-$(dirname "$quiver")/examples/trivial_http_server}"
floor_pid=""
servers="nginx:6580 quiver:6566"
if [ "$floor" != none ] && [ -x "$floor" ]; then
  BODY_FILE="$work/answer.json" SERVER_THREADS="$(nproc)" "$floor" 127.0.0.1:6599 2>"$work/floor.log" &
  floor_pid=$!
  cleanups+=("kill $floor_pid 2>/dev/null")
  for _ in $(seq 50); do curl -fs -X POST http://127.0.0.1:6599/get-online-features >/dev/null && break; sleep 0.1; done
  cmp <(curl -fs -X POST http://127.0.0.1:6599/get-online-features) "$work/answer.json" \
    || { echo "the floor server does not send Quiver's answer" >&2; exit 1; }
  servers="$servers axum:6599"
else
  echo "no floor server (cargo build --release -p quiver-sim --example trivial_http_server, or FLOOR=bin)" >&2
fi

machine_line
echo "body: $(wc -c < "$work/answer.json") bytes; $rounds rounds of ${seconds} s per measurement"
results="$work/results.tsv"
open_loop() { # server port rate round
  "$quiver" simulate --repo "$repo" --ids-from "$ids" --target http --url "http://127.0.0.1:$2" \
    --rate "$3" --warmup 2s --duration "${seconds}s" --quiet --out "$work/sim-$1-$3-$4" >"$work/sim.txt" 2>&1 \
    || { cat "$work/sim.txt" >&2; exit 1; }
  python3 - "$1" "$3" "$work/sim-$1-$3-$4/result.json" <<'PY' | tee -a "$results"
import json, sys
r = json.load(open(sys.argv[3]))
t, s = r["totals"], r["response_time"]["summary"]
print(f"{sys.argv[1]}\topen-{sys.argv[2]}\t{t['throughput_rps']:.0f}\t{s['p50_us']:.0f}\t{s['p99_us']:.0f}\t{s['p999_us']:.0f}\t{t['errors']}")
PY
}
# CPU time (user + system, in clock ticks) of a server's processes: nginx's
# workers, Quiver's one process, or the floor server's.
cpu_ticks() { # server
  local pids ticks=0 pid
  case "$1" in
    nginx) pids=$(pgrep -P "$(cat "$work/nginx/nginx.pid")") ;;
    axum) pids=$floor_pid ;;
    *) pids=$server ;;
  esac
  for pid in $pids; do ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
  echo "$ticks"
}
closed_loop() { # server port
  local line before after
  before=$(cpu_ticks "$1")
  line=$(BATCH=1 IDS_FILE="$ids" wrk -t1 -c64 -d"${seconds}s" -s "$root/benches/serve/request.lua" \
    "http://127.0.0.1:$2" | grep '^wrk:')
  after=$(cpu_ticks "$1")
  # wrk: N req/s, p50 A us, p99 B us, p99.9 C us, errors D (socket) E (non-2xx)
  echo "$line" | awk -v s="$1" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v secs="$seconds" \
    '{ gsub(",", ""); printf "%s\tclosed-64\t%s\t%s\t%s\t%s\t%d\t%.1f\n", s, $2, $5, $8, $11, $13 + $15, ticks / hz / ($2 * secs) * 1e6 }' \
    | tee -a "$results"
}
# Closed loop through `quiver simulate`, 32 workers: the same generator for
# both protocols. No warm-up, so the CPU and the requests cover the same span.
# MEASURE names the line (default sim-PROTOCOL); further arguments go to
# simulate (`--connections 1`: the 32 workers' gRPC calls on one connection).
simulate_closed() { # server port protocol round [MEASURE flags...]
  local before after measure="${5:-sim-$3}"
  before=$(cpu_ticks "$1")
  "$quiver" simulate --repo "$repo" --ids-from "$ids" --target "$3" --url "http://127.0.0.1:$2" \
    --workers 32 "${@:6}" --warmup 0s --duration "${seconds}s" --quiet --out "$work/sim-$1-$measure-$4" \
    >"$work/sim.txt" 2>&1 || { cat "$work/sim.txt" >&2; exit 1; }
  after=$(cpu_ticks "$1")
  python3 - "$1" "$measure" "$work/sim-$1-$measure-$4/result.json" $((after - before)) "$(getconf CLK_TCK)" <<'PY' | tee -a "$results"
import json, sys
r = json.load(open(sys.argv[3]))
t, s = r["totals"], r["response_time"]["summary"]
cpu = int(sys.argv[4]) / int(sys.argv[5]) / t["requests"] * 1e6
print(f"{sys.argv[1]}\t{sys.argv[2]}\t{t['throughput_rps']:.0f}\t{s['p50_us']:.0f}\t{s['p99_us']:.0f}\t{s['p999_us']:.0f}\t{t['errors']}\t{cpu:.1f}")
PY
}
printf 'server\tmeasure\treq/s\tp50_us\tp99_us\tp99.9_us\terrors\tcpu_us_per_req\n'
for round in $(seq "$rounds"); do
  for server_port in $servers; do
    name=${server_port%:*}; port=${server_port#*:}
    if [ "$name" != axum ]; then
      open_loop "$name" "$port" 20000 "$round"
      open_loop "$name" "$port" 10000 "$round"
    fi
    closed_loop "$name" "$port"
    simulate_closed "$name" "$port" http "$round"
    case "$name" in
      nginx) port=6581 ;;
      quiver) port=6570 ;;
      *) continue ;;
    esac
    simulate_closed "$name" "$port" grpc "$round"
    simulate_closed "$name" "$port" grpc "$round" sim-grpc-shared --connections 1
  done
done
python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
def median(server, measure, column):
    values = [float(r[column]) for r in rows if r[0] == server and r[1] == measure]
    return statistics.median(values) if values else None
print("\nmedians over rounds, and Quiver / nginx:")
for measure in ("open-20000", "open-10000", "closed-64", "sim-http", "sim-grpc", "sim-grpc-shared"):
    cells = []
    for column, name in ((2, "req/s"), (4, "p99"), (5, "p99.9")):
        n, q = median("nginx", measure, column), median("quiver", measure, column)
        cells.append(f"{name} nginx {n:,.0f} quiver {q:,.0f} ({q / n:.2f}x)")
    print(f"{measure:<11} " + "; ".join(cells))
print("\nserver CPU per request in the closed loops (medians), and each / nginx's:")
for measure in ("closed-64", "sim-http", "sim-grpc", "sim-grpc-shared"):
    n = median("nginx", measure, 7)
    cells = []
    for server in ("nginx", "quiver", "axum"):
        value = median(server, measure, 7)
        if value is not None:
            cells.append(f"{server} {value:.1f} us ({value / n:.2f}x)")
    print(f"{measure:<11} " + ", ".join(cells))
axum = median("axum", "closed-64", 2)
if axum is not None:
    print(f"closed-64   req/s: axum (static: the Rust stack's floor) {axum:,.0f}, "
          f"{axum / median('nginx', 'closed-64', 2):.2f}x nginx")
print("\none gRPC call / one HTTP/1.1 request, server CPU through quiver simulate (medians;")
print("gRPC with a connection per worker, then the 32 workers on one connection):")
for server in ("nginx", "quiver"):
    h, g = median(server, "sim-http", 7), median(server, "sim-grpc", 7)
    shared = median(server, "sim-grpc-shared", 7)
    print(f"{server:<7} HTTP/1.1 {h:.1f} us, gRPC {g:.1f} us ({g / h:.2f}x), "
          f"gRPC on one connection {shared:.1f} us ({shared / h:.2f}x)")
g = median("nginx", "sim-grpc", 7)
print(f"quiver's gRPC call / nginx's static gRPC answer: {median('quiver', 'sim-grpc', 7) / g:.2f}x; "
      f"quiver's HTTP/JSON request / nginx's static gRPC answer: {median('quiver', 'sim-http', 7) / g:.2f}x")
PY
