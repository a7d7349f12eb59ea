#!/usr/bin/env bash
# The first release build of the `quiver` binary, as a new user meets it:
# `cargo build --release -p quiver-cli` from a fresh clone into an empty
# target folder (crates already downloaded, so only compiling counts). Runs
# each given commit in turn and prints the wall time and the slowest crates
# from cargo's own timing report.
#
# Usage: benches/first-build/run.sh [COMMIT...]   (default: HEAD)
# Takes about 25-35 min per commit on 2 cores; run it on an idle machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -gt 0 ] || set -- HEAD
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo fetch --locked --manifest-path "$root/Cargo.toml" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ)"
for commit in "$@"; do
  rm -rf "$work/clone" "$work/target"
  git clone -q "$root" "$work/clone"
  git -C "$work/clone" checkout -q "$commit"
  start=$(date +%s)
  (cd "$work/clone" && CARGO_TARGET_DIR="$work/target" cargo build --release --locked -p quiver-cli --timings >"$work/build.log" 2>&1) \
    || { tail -20 "$work/build.log" >&2; exit 1; }
  end=$(date +%s)
  echo "== $(git -C "$work/clone" rev-parse --short HEAD): $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s wall, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 "$root/benches/first-build/slowest.py" "$work/target/cargo-timings/cargo-timing.html"
done
