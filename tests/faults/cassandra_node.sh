#!/usr/bin/env bash
# The Cassandra store's node fault test, against a node of its own: starts the
# `fault` node of scripts/services/cassandra.sh, runs
# quiver-online-cql's `fault` test (ignored in a plain `cargo test`, because
# it stops a server) with QUIVER_TEST_FAULT_* pointing at that node, which
# the test stops and starts again under an open store, then stops the node.
# Usage: tests/faults/cassandra_node.sh PATH/TO/quiver-online-cql's `it` test binary
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:?usage: $0 PATH/TO/quiver-online-cql-it-binary}"
cassandra="$root/scripts/services/cassandra.sh"
offset="${QUIVER_PORT_OFFSET:-0}"

"$cassandra" start fault
trap '"$cassandra" stop fault >/dev/null 2>&1 || true' EXIT
export QUIVER_TEST_FAULT_NODE="127.0.0.1:$((19043 + offset))"
export QUIVER_TEST_FAULT_STOP="'$cassandra' stop fault"
export QUIVER_TEST_FAULT_START="'$cassandra' start fault"
cd "$root/crates/quiver-online-cql"
"$bin" fault:: --ignored --nocapture
