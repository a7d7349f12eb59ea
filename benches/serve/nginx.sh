#!/usr/bin/env bash
# `quiver serve` beside nginx, the machine's own limit for an HTTP answer
# (issue 14, "Speed, measured against the machine's own limit"): nginx (the
# Debian package) answers POST /get-online-features with a static copy of
# Quiver's own answer to a 1-id request for all 22 features, so both send the
# same bytes over the same loopback to the same generators. Rounds alternate
# nginx and Quiver, each measured
#   - open loop: `quiver simulate --target http --rate 20000`, then 10000;
#   - closed loop: wrk, 1 thread, 64 connections, the Feast request
#     (request.lua, BATCH=1), with the CPU time the server's processes
#     spent per request (the cost the ratios follow).
# Both servers use every core (nginx: worker_processes auto; Quiver: its
# defaults) and keep connections open as long as the client does.
#
# Usage: [ROUNDS=2] [QUIVER=release/quiver] [REPO=DIR] benches/serve/nginx.sh [SECONDS]
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
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
cleanups+=("kill \$(cat '$work/nginx/nginx.pid') 2>/dev/null")
for _ in $(seq 50); do curl -fs -X POST http://127.0.0.1:6580/get-online-features >/dev/null && break; sleep 0.1; done
cmp <(curl -fs -X POST http://127.0.0.1:6580/get-online-features) "$work/answer.json" \
  || { echo "nginx does not send Quiver's answer" >&2; exit 1; }

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
# workers, or Quiver's one process.
cpu_ticks() { # server
  local pids ticks=0 pid
  if [ "$1" = nginx ]; then pids=$(pgrep -P "$(cat "$work/nginx/nginx.pid")"); else pids=$server; fi
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
printf 'server\tmeasure\treq/s\tp50_us\tp99_us\tp99.9_us\terrors\tcpu_us_per_req\n'
for round in $(seq "$rounds"); do
  for server_port in nginx:6580 quiver:6566; do
    name=${server_port%:*}; port=${server_port#*:}
    open_loop "$name" "$port" 20000 "$round"
    open_loop "$name" "$port" 10000 "$round"
    closed_loop "$name" "$port"
  done
done
python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
def median(server, measure, column):
    return statistics.median(float(r[column]) for r in rows if r[0] == server and r[1] == measure)
print("\nmedians over rounds, and Quiver / nginx:")
for measure in ("open-20000", "open-10000", "closed-64"):
    cells = []
    for column, name in ((2, "req/s"), (4, "p99"), (5, "p99.9")):
        n, q = median("nginx", measure, column), median("quiver", measure, column)
        cells.append(f"{name} nginx {n:,.0f} quiver {q:,.0f} ({q / n:.2f}x)")
    print(f"{measure:<11} " + "; ".join(cells))
n, q = (statistics.median(float(r[7]) for r in rows if r[0] == server and r[1] == "closed-64")
        for server in ("nginx", "quiver"))
print(f"closed-64   server CPU per request: nginx {n:.1f} us, quiver {q:.1f} us ({q / n:.2f}x)")
PY
