#!/usr/bin/env bash
# Runs integration-test binaries again and again while another process keeps
# one core busy, to prove that no test's verdict depends on the machine's
# speed. A flaky test shows up here long before it blocks a submission.
#
# Usage: scripts/stress-tests.sh [RUNS] [CRATE[:FILTER] ...]
#   RUNS     runs of each binary (default 20)
#   CRATE    a workspace crate whose `it` test binary to run; FILTER, if
#            given, is passed to the binary (a test-name substring such as
#            `serve::` to run one module). Default: every test binary that
#            reads a clock or counts requests (see the list below).
#   STRESS=0 runs without the busy core (stress-ng from Debian packages).
#   RUN_TIMEOUT  seconds one run may take before it counts as failed (600).
# Tests against the servers (the `integration` features) need them running:
# scripts/services/up.sh, then source its env.sh.
#
# Prints one line per run and a count per binary; exits non-zero if any run
# failed, keeping the failed runs' output in $LOG_DIR (default: a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"

runs="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(quiver-sim quiver-serve quiver-online quiver-cli:serve:: quiver-cli:simulate::
             quiver-cli:interrupted_jobs::)
fi
log_dir="${LOG_DIR:-$(mktemp -d)}"

# Every crate's `it` test binary, built as scripts/test.sh builds them: for
# the whole workspace at once, with the same features. (`cargo test -p CRATE` would resolve features
# for that crate alone and rebuild DataFusion in another variant.)
integration=quiver-cli/integration,quiver-offline/integration,quiver-online-redis/integration,quiver-online-cql/integration
build_log="$log_dir/build.json"
if ! cargo test --workspace --locked --no-run --features "$integration" \
        --message-format=json >"$build_log"; then
    echo "the test build failed; see above"
    exit 2
fi
declare -A binaries
while read -r crate bin; do
    binaries[$crate]=$bin
done < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "it":
        crate = m["package_id"].split("#")[0].rstrip("/").split("/")[-1]
        print(crate, m["executable"])' "$build_log")
for target in "${targets[@]}"; do
    crate="${target%%:*}"
    [ -n "${binaries[$crate]:-}" ] || { echo "no integration-test binary for $crate"; exit 2; }
done

if [ "${STRESS:-1}" = 1 ]; then
    if ! command -v stress-ng >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
    fi
    stress-ng --cpu 1 --quiet &
    stress_pid=$!
    trap 'kill $stress_pid 2>/dev/null' EXIT
    echo "stress-ng --cpu 1 running (pid $stress_pid)"
fi

failures=0
for target in "${targets[@]}"; do
    crate="${target%%:*}"
    filter=""
    [ "$crate" != "$target" ] && filter="${target#*:}"
    bin="${binaries[$crate]}"
    ok=0
    for run in $(seq 1 "$runs"); do
        out="$log_dir/$crate-${filter//[^a-z_]/}-$run.log"
        start=$(date +%s.%N)
        # Test binaries look for their fixtures relative to the crate.
        # shellcheck disable=SC2086 # an empty filter is no argument
        # A run that hangs is a failure too, not a stuck loop.
        if (cd "crates/$crate" && timeout "${RUN_TIMEOUT:-600}" "$bin" $filter) >"$out" 2>&1; then
            ok=$((ok + 1))
            rm -f "$out"
            verdict=ok
        else
            verdict="FAILED (log: $out)"
            failures=$((failures + 1))
        fi
        printf '%s %s run %d/%d: %s in %s s\n' "$crate" "$filter" "$run" "$runs" "$verdict" \
            "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    done
    echo "== $crate $filter: $ok of $runs runs passed"
done
[ "$failures" -eq 0 ]
