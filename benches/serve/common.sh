# Shared by the benches/serve scripts (sourced, not run): the release
# binary, a repository where the demo job has run, its ids, and a running
# `quiver serve` on it. Sets $root, $quiver, $work (removed on exit), $repo,
# $ids and, after start_quiver, $server (its pid).
# shellcheck shell=bash
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
quiver="${QUIVER:-}"
if [ -z "$quiver" ]; then
  # The same feature set as the test build, so no second DataFusion build.
  cargo build --release --workspace --bins --examples --manifest-path "$root/Cargo.toml" >&2
  quiver="$CARGO_TARGET_DIR/release/quiver"
fi
work="$(mktemp -d)"
server=""
cleanups=()
cleanup() {
  for c in "${cleanups[@]}"; do eval "$c" || true; done
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

repo="${REPO:-}"
if [ -z "$repo" ]; then
  repo="$work/repo"
  "$quiver" init "$repo" >/dev/null
  "$quiver" datagen energy --out "$repo/data/energy.csv" >&2
  "$quiver" apply --repo "$repo" >/dev/null
  "$quiver" run energy_features --repo "$repo" --quiet >&2
fi
# Every feature of the demo view, as its quiver.toml declares them
# (`view:feature`, comma-separated): what every benchmark request asks for,
# as `quiver simulate` does by default. request.lua reads it too.
export FEATURES
FEATURES="$(python3 -c 'import sys, tomllib
view = tomllib.load(open(sys.argv[1], "rb"))["feature_views"]["energy_features"]
print(",".join("energy_features:" + f for f in view["features"]))' "$repo/quiver.toml")"
ids="$work/ids.txt"
tail -n +2 "$repo/data/energy.csv" | cut -d, -f1 | sort -u > "$ids"

machine_line() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
}

# start_quiver [env assignments...]: `quiver serve` on 6566 (HTTP) and 6570
# (gRPC) with the default settings, waiting until /ready answers.
start_quiver() {
  env "$@" "$quiver" serve --repo "$repo" --log-format json >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -fs http://127.0.0.1:6566/ready >/dev/null && return 0
    sleep 0.1
  done
  cat "$work/serve.log" >&2
  return 1
}

# Server CPU time (user + system) and requests answered, as the server counts
# them: their ratio per measurement is steadier than throughput on a shared
# machine, and independent of how much CPU the load generator itself needs.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$server/stat"; }
server_requests() {
  curl -fs http://127.0.0.1:6566/metrics | awk '/^quiver_serve_requests_total\{/ { n += $2 } END { print n + 0 }'
}
cpu0=0; requests0=0
server_mark() { cpu0="$(server_cpu)"; requests0="$(server_requests)"; }
# The server's CPU per request answered since server_mark, in µs with one
# decimal (nothing if it answered none).
server_us_per_request() {
  local cpu requests
  cpu="$(awk -v a="$cpu0" -v b="$(server_cpu)" 'BEGIN { print b - a }')"
  requests=$(( $(server_requests) - requests0 ))
  if [ "$requests" -gt 0 ]; then
    awk -v c="$cpu" -v n="$requests" 'BEGIN { printf "%.2f", c * 1e6 / n }'
  fi
}
