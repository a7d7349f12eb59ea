#!/usr/bin/env bash
# Starts every server Quiver's tests need, on 127.0.0.1, in parallel:
#   redis                redis://127.0.0.1:16379   (redis.sh)
#   redis-secure         rediss://127.0.0.1:16380  TLS + password (redis.sh)
#   cassandra            127.0.0.1:19042           CQL, no auth (cassandra.sh)
#   cassandra-keyspaces  127.0.0.1:19142           CQL over TLS + password (cassandra.sh)
#   s3                   http://127.0.0.1:15000    moto's S3-compatible server (s3.sh)
# Usage:  scripts/services/up.sh     then   source "$QUIVER_SERVICES_DIR/env.sh"
#         scripts/services/down.sh   stops them all.
# Installs what is missing (apt-get, Maven Central), leaves a service that
# already runs as it is, prints one line per service with its address and
# start time, and exits non-zero if any service did not come up (the log tail
# of the failed one is printed above the summary). On success it writes the
# QUIVER_TEST_* variables for the tests to $QUIVER_SERVICES_DIR/env.sh
# (default ~/.cache/quiver/services/env.sh).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
SCRIPT_NAME=up
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

t0="$(now_ms)"
mkdir -p "$QUIVER_SERVICES_DIR"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$here/redis.sh" start >"$out/redis" &
redis_pid=$!
"$here/cassandra.sh" start >"$out/cassandra" &
cassandra_pid=$!
"$here/s3.sh" start >"$out/s3" &
s3_pid=$!
failed=()
wait "$redis_pid" || failed+=("Redis (redis.sh start)")
wait "$cassandra_pid" || failed+=("Cassandra (cassandra.sh start)")
wait "$s3_pid" || failed+=("S3 (s3.sh start)")

echo
cat "$out/redis" "$out/cassandra" "$out/s3"
if ((${#failed[@]})); then
  for f in "${failed[@]}"; do echo "FAILED: $f, see the messages above" >&2; done
  exit 1
fi

o=$QUIVER_PORT_OFFSET
cat >"$QUIVER_SERVICES_DIR/env.sh" <<ENV
# Written by scripts/services/up.sh: the servers the tests use.
export QUIVER_TEST_REDIS_URL=redis://127.0.0.1:$((16379 + o))
export QUIVER_TEST_REDIS_SECURE_URL=rediss://127.0.0.1:$((16380 + o))
export QUIVER_TEST_REDIS_PASSWORD=quiver-test-password
export QUIVER_TEST_REDIS_CA=$QUIVER_SERVICES_DIR/redis/tls/ca.pem
export QUIVER_TEST_CASSANDRA=127.0.0.1:$((19042 + o))
export QUIVER_TEST_KEYSPACES=127.0.0.1:$((19142 + o))
export QUIVER_TEST_KEYSPACES_USER=cassandra
export QUIVER_TEST_KEYSPACES_PASSWORD=cassandra
export QUIVER_TEST_KEYSPACES_CA=$QUIVER_SERVICES_DIR/cassandra-keyspaces/tls/ca.pem
export QUIVER_TEST_S3_ENDPOINT=http://127.0.0.1:$((15000 + o))
# moto itself, for tests that start a server of their own (with authentication on)
export QUIVER_TEST_MOTO_SERVER=${QUIVER_MOTO_VENV:-$QUIVER_CACHE/moto-venv}/bin/moto_server
ENV
echo "all services up in $(secs_since "$t0") s; test variables: $QUIVER_SERVICES_DIR/env.sh"
