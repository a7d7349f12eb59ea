#!/usr/bin/env bash
# Runs every test of the project. This is the test command README.md names
# and .ci/run calls. Tests that need a server (Redis, Cassandra, S3) start it
# here first, on 127.0.0.1; today's need none (the embedded online store and
# local Delta tables are part of the binary), but the Spark interop check needs
# Java and installs PySpark into ~/.cache/quiver on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are slow on small machines: share one target folder across clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quiver-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo fmt --all -- --check
cargo test --workspace --locked --no-fail-fast "$@"

# Spark is the independent reader of the offline store: it must read what the
# `quiver` binary wrote (PySpark from PyPI, Delta Lake jars from Maven Central).
tests/interop/spark_reads_quiver.sh "$CARGO_TARGET_DIR/debug/quiver"
