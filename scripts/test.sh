#!/usr/bin/env bash
# Runs every test of the project. This is the test command README.md names
# and .ci/run calls. Every step runs even when an earlier one failed, so one
# red step never hides another; the summary at the end lists each step's
# verdict and the script exits non-zero if any failed.
#
# Steps: formatting; the build of every test target; clippy and rustdoc with
# warnings denied (the lints are `[workspace.lints]` in Cargo.toml); the test
# servers (scripts/services/up.sh: Redis plain and with TLS + AUTH, Apache
# Cassandra plain and Keyspaces-like, on 127.0.0.1, installed on first use
# and stopped at the end); the Rust tests of the whole workspace, those
# against the servers included (a server that did not start fails its tests,
# never skips them); the Spark interop check (Java, and PySpark installed into
# ~/.cache/quiver on first use), which reads what the `quiver` binary wrote;
# Feast's own Python client (feast 0.67, installed into ~/.cache/quiver
# on first use) reading `quiver serve`; and Python grpcio (grpcio-tools,
# likewise) reading its gRPC service.
#
# Plain `cargo test --workspace` needs no server: the server tests sit behind
# the `integration` features named below.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

# Builds are slow on small machines: share one target folder across clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

failed=()
passed=()
step() {
    local name=$1
    shift
    echo "==> $name"
    if "$@"; then
        passed+=("$name")
    else
        echo "==> $name FAILED (exit $?)"
        failed+=("$name")
    fi
}

step "cargo fmt --check" cargo fmt --all -- --check

export integration=quiver-cli/integration,quiver-offline/integration,quiver-online-redis/integration,quiver-online-cql/integration
# The build first, so a compile error shows once, ahead of the lints. Every
# cargo command below takes the same features: another set would build
# DataFusion again in another variant. (`cargo doc` still type-checks part of
# the delta-rs stack once more, without the dev-dependencies' features: about
# 13 minutes on 2 cores the first time, seconds after.)
step "cargo build" cargo test --workspace --locked --no-run --features "$integration"
step "cargo clippy" cargo clippy --workspace --all-targets --locked --features "$integration" -- -D warnings
step "cargo doc" env RUSTDOCFLAGS="-D warnings" \
    cargo doc --workspace --no-deps --locked --features "$integration"

services_dir="${QUIVER_SERVICES_DIR:-${QUIVER_CACHE:-$HOME/.cache/quiver}/services}"
trap 'scripts/services/down.sh >/dev/null 2>&1' EXIT
# Fresh data: nothing of an earlier run (or another clone's run) remains.
step "start test servers" env QUIVER_SERVICES_FRESH=1 scripts/services/up.sh
# shellcheck source=/dev/null
[ -f "$services_dir/env.sh" ] && source "$services_dir/env.sh"

step "cargo test" cargo test --workspace --locked --no-fail-fast --features "$integration" "$@"

# quiver-serve's whole suite once more on each server-backed store (the
# suite's repositories take the store QUIVER_TEST_ONLINE_STORE names), with
# the test binary the build above made.
# The `it` test binary of crate $1, as the build above made it.
test_binary() {
    cargo test --workspace --locked --no-run --features "$integration" \
            --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "it" and "/" + sys.argv[1] + "#" in m["package_id"]):
        print(m["executable"])' "$1"
}
serve_tests_on() {
    local bin
    bin="$(test_binary quiver-serve)"
    [ -n "$bin" ] || { echo "no quiver-serve test binary"; return 1; }
    (cd crates/quiver-serve && QUIVER_TEST_ONLINE_STORE="$1" "$bin")
}
for store in redis redis-secure cassandra keyspaces; do
    step "quiver-serve tests on $store" serve_tests_on "$store"
done

# The Cassandra store under a node stopped and started again, on a node of
# the test's own (Redis's faults are tested in `cargo test` above, on
# redis-server processes the tests start themselves).
cassandra_node_fault() {
    local bin
    bin="$(test_binary quiver-online-cql)"
    [ -n "$bin" ] || { echo "no quiver-online-cql test binary"; return 1; }
    tests/faults/cassandra_node.sh "$bin"
}
step "cassandra node stopped and started" cassandra_node_fault

# Spark is the independent reader of the offline store: it must read what the
# `quiver` binary wrote (PySpark from PyPI, Delta Lake jars from Maven Central).
# The binary is the one the test build above linked for the CLI's tests; a
# separate `cargo build` would resolve features without dev-dependencies and
# rebuild DataFusion in another variant.
step "spark reads quiver" tests/interop/spark_reads_quiver.sh "$CARGO_TARGET_DIR/debug/quiver"
# And the other way: Spark writes a view's table; Quiver lists the commit,
# materializes it and builds the training set Spark's own join gives.
step "quiver reads spark" tests/interop/quiver_reads_spark.sh "$CARGO_TARGET_DIR/debug/quiver"
# Feast is the independent client of the server: its own Python SDK
# (feast==0.67.* from PyPI), with `online_store: type: remote` pointed at
# `quiver serve`, must read what `quiver get` reads.
step "feast reads quiver" tests/interop/feast_reads_quiver.sh "$CARGO_TARGET_DIR/debug/quiver"
# And a gRPC client that is not Quiver's (Python grpcio, its stubs compiled
# from our .proto): both gRPC answers, the columnar one written without
# prost included, must decode and hold what `quiver get` reads.
step "grpcio reads quiver" tests/interop/grpcio_reads_quiver.sh "$CARGO_TARGET_DIR/debug/quiver"

echo
echo "Summary of steps (cargo test prints its own counts above):"
for name in "${passed[@]}"; do echo "  ok      $name"; done
for name in "${failed[@]}"; do echo "  FAILED  $name"; done
[ ${#failed[@]} -eq 0 ]
