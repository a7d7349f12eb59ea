#!/usr/bin/env bash
# Stops every server scripts/services/up.sh started (both Redis instances,
# both Cassandra nodes and the S3 server), in parallel. Does nothing, successfully, for those
# already stopped. Data stays in $QUIVER_SERVICES_DIR for the next up.sh.
# Usage:  scripts/services/down.sh
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
SCRIPT_NAME=down
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

"$here/redis.sh" stop &
redis_pid=$!
"$here/cassandra.sh" stop &
cassandra_pid=$!
"$here/s3.sh" stop &
s3_pid=$!
rc=0
wait "$redis_pid" || rc=1
wait "$cassandra_pid" || rc=1
wait "$s3_pid" || rc=1
exit "$rc"
