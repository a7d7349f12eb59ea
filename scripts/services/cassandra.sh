#!/usr/bin/env bash
# The Apache Cassandra 5.0.9 nodes Quiver's tests use, each its own single-node
# cluster on 127.0.0.1, run under Java 17 from the Maven Central jars (no tarball):
#   plain      CQL 127.0.0.1:19042, no auth               (storage port 17000, JMX 17199)
#   keyspaces  CQL 127.0.0.1:19142 over TLS only, PasswordAuthenticator,
#              user cassandra / password cassandra, like Amazon Keyspaces
#              (storage port 17001, JMX 17200); CA certificate for clients:
#              $QUIVER_SERVICES_DIR/cassandra-keyspaces/tls/ca.pem
#   fault      CQL 127.0.0.1:19043, no auth, for the test that stops and starts
#              its node under an open store (storage port 17002, JMX 17201);
#              started only when named, stopped by a bare `stop` too
# Usage:  scripts/services/cassandra.sh start|stop|status [plain|keyspaces|fault]
#         (default: plain and keyspaces; `stop` also stops fault)
# `start` installs Java 17 and Maven with apt-get if missing, fetches
# org.apache.cassandra:cassandra-all and its runtime jars once into
# ${QUIVER_CACHE:-~/.cache/quiver}/cassandra-5.0.9/lib, starts the nodes in
# parallel, and waits until each accepts CQL connections (and, on a fresh
# keyspaces node, has created its superuser). A node that does not come up
# fails the script with its log tail; one already running is left as it is.
# Data, logs, config and pid file: $QUIVER_SERVICES_DIR/cassandra{,-keyspaces}/.
# QUIVER_SERVICES_FRESH=1 deletes a node's data before starting it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
SCRIPT_NAME=cassandra
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION=5.0.9
CASS_CACHE="$QUIVER_CACHE/cassandra-$VERSION"
LIB="$CASS_CACHE/lib"
M2="$QUIVER_CACHE/m2" # Maven's local repository
TIMEOUT="${QUIVER_CASSANDRA_START_TIMEOUT:-240}"
HEAP_MIN="${QUIVER_CASSANDRA_HEAP_MIN:-512m}"
HEAP_MAX="${QUIVER_CASSANDRA_HEAP_MAX:-1g}"
STOREPASS=cassandra # PKCS12 keystore password (the store only holds test material)

# NODE -> directory, label and ports (CQL, storage, JMX)
dir_of() {
  case $1 in
    plain) echo "$QUIVER_SERVICES_DIR/cassandra" ;;
    fault) echo "$QUIVER_SERVICES_DIR/cassandra-fault" ;;
    *) echo "$QUIVER_SERVICES_DIR/cassandra-keyspaces" ;;
  esac
}
label_of() {
  case $1 in
    plain) echo cassandra ;;
    fault) echo cassandra-fault ;;
    *) echo cassandra-keyspaces ;;
  esac
}
ports_of() {
  local o=$QUIVER_PORT_OFFSET
  case $1 in
    plain) echo "$((19042 + o)) $((17000 + o)) $((17199 + o))" ;;
    fault) echo "$((19043 + o)) $((17002 + o)) $((17201 + o))" ;;
    *) echo "$((19142 + o)) $((17001 + o)) $((17200 + o))" ;;
  esac
}
# a running node is recognised by its config path on its command line
marker_of() { echo "-Dcassandra.config=file://$(dir_of "$1")/conf/cassandra.yaml"; }

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }

find_java17() {
  local j
  for j in "${JAVA_HOME:+$JAVA_HOME/bin/java}" /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/*17*/bin/java "$(command -v java || true)"; do
    if [[ -n "$j" && -x "$j" && "$(java_major "$j")" == 17 ]]; then
      echo "$j"
      return 0
    fi
  done
  return 1
}

ensure_java() {
  JAVA="$(find_java17)" || {
    apt_install openjdk-17-jre-headless
    JAVA="$(find_java17)" || die "no Java 17 found even after installing openjdk-17-jre-headless"
  }
  JAVA_HOME_17="$(dirname "$(dirname "$(readlink -f "$JAVA")")")"
}

# cassandra-all and its runtime dependencies from Maven Central, once per cache.
fetch_jars() {
  mkdir -p "$CASS_CACHE"
  (
    flock 9
    [[ -f "$LIB/.complete" ]] && exit 0
    command -v mvn >/dev/null || apt_install maven
    say "fetching org.apache.cassandra:cassandra-all:$VERSION and its runtime jars from Maven Central into $LIB"
    local t0
    t0="$(now_ms)"
    cat >"$CASS_CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>quiver.test</groupId><artifactId>cassandra-server</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    rm -rf "$LIB.tmp"
    if ! (cd "$CASS_CACHE" && JAVA_HOME="$JAVA_HOME_17" mvn -B -q -Dmaven.repo.local="$M2" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIB.tmp") >"$CASS_CACHE/mvn.log" 2>&1; then
      log_tail "$CASS_CACHE/mvn.log" 30
      die "Maven could not fetch cassandra-all:$VERSION (log: $CASS_CACHE/mvn.log)"
    fi
    [[ -f "$LIB.tmp/cassandra-all-$VERSION.jar" ]] || die "Maven finished but $LIB.tmp has no cassandra-all-$VERSION.jar"
    rm -rf "$LIB"
    mv "$LIB.tmp" "$LIB"
    touch "$LIB/.complete"
    say "fetched $(find "$LIB" -name '*.jar' | wc -l) jars ($(du -sh "$LIB" | cut -f1)) in $(secs_since "$t0") s"
  ) 9>"$CASS_CACHE/.lock"
}

# Java 17 module flags Cassandra needs (its conf/jvm17-server.options).
JPMS_OPTS=(
  -Djdk.attach.allowAttachSelf=true
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.base/java.lang.ref=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
)

write_config() { # NODE DIR CQL_PORT STORAGE_PORT
  local node=$1 dir=$2 cql=$3 storage=$4
  cat >"$dir/conf/cassandra.yaml" <<EOF
# Written by scripts/services/cassandra.sh on every start: edit the script, not this file.
cluster_name: 'quiver-test-$node'
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
data_file_directories: [$dir/data/data]
commitlog_directory: $dir/data/commitlog
saved_caches_directory: $dir/data/saved_caches
hints_directory: $dir/data/hints
cdc_raw_directory: $dir/data/cdc_raw
# Tests drop a keyspace per test; a snapshot of each would only fill the disk.
auto_snapshot: false
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$storage"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $storage
native_transport_port: $cql
start_native_transport: true
endpoint_snitch: SimpleSnitch
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
EOF
  if [[ $node != keyspaces ]]; then
    printf '%s\n' "authenticator: AllowAllAuthenticator" "authorizer: AllowAllAuthorizer" >>"$dir/conf/cassandra.yaml"
  else
    cat >>"$dir/conf/cassandra.yaml" <<EOF
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
client_encryption_options:
  enabled: true
  optional: false
  keystore: $dir/tls/keystore.p12
  keystore_password: $STOREPASS
  store_type: PKCS12
  require_client_auth: false
EOF
  fi
  cat >"$dir/conf/logback.xml" <<'EOF'
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE" /></root>
</configuration>
EOF
}

# The node's certificate as the PKCS12 keystore Cassandra reads.
make_keystore() { # DIR
  local tls="$1/tls"
  make_tls "$tls" cassandra-keyspaces
  if [[ ! -s "$tls/keystore.p12" || "$tls/server.pem" -nt "$tls/keystore.p12" ]]; then
    openssl pkcs12 -export -name node -in "$tls/server.pem" -inkey "$tls/server.key" -certfile "$tls/ca.pem" \
      -passout "pass:$STOREPASS" -out "$tls/keystore.p12" || die "openssl could not write $tls/keystore.p12"
  fi
}

start_node() { # NODE
  local node=$1 dir label cql storage jmx pid t0 fresh_auth=0 log
  dir="$(dir_of "$node")" label="$(label_of "$node")"
  read -r cql storage jmx <<<"$(ports_of "$node")"
  SCRIPT_NAME="$label"
  t0="$(now_ms)"
  log="$dir/logs/system.log"
  if pid="$(live_pid "$dir/cassandra.pid" "$(marker_of "$node")")"; then
    while ! port_open "$cql"; do
      running "$pid" || die "PID $pid exited before CQL came up on 127.0.0.1:$cql"
      (($(now_ms) - t0 < TIMEOUT * 1000)) || die "PID $pid runs but nothing accepts CQL on 127.0.0.1:$cql after ${TIMEOUT}s"
      sleep 0.5
    done
    printf '%-20s %-30s already running (PID %s)\n' "$label" "127.0.0.1:$cql" "$pid"
    return 0
  fi
  rm -f "$dir/cassandra.pid"
  # QUIVER_SERVICES_FRESH=1 (scripts/test.sh sets it): start from empty
  # data, so keyspaces of earlier runs never pile up in a CI machine's node.
  if [[ ${QUIVER_SERVICES_FRESH:-0} == 1 ]]; then rm -rf "$dir/data"; fi
  require_port_free "$cql" "$label CQL"
  require_port_free "$storage" "$label storage"
  require_port_free "$jmx" "$label JMX"
  mkdir -p "$dir/conf" "$dir/data" "$dir/logs"
  [[ $node != keyspaces ]] || make_keystore "$dir"
  write_config "$node" "$dir" "$cql" "$storage"
  [[ $node != keyspaces || -d "$dir/data/data/system_auth" ]] || fresh_auth=1
  if [[ -f "$log" ]]; then mv -f "$log" "$log.old"; fi
  : >"$log"
  local opts=(
    "-Xms$HEAP_MIN" "-Xmx$HEAP_MAX" -Xss256k
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
    -XX:+HeapDumpOnOutOfMemoryError "-XX:HeapDumpPath=$dir/logs" -XX:+ExitOnOutOfMemoryError
    -XX:+PerfDisableSharedMem -Djava.net.preferIPv4Stack=true -ea -da:net.openhft...
    "${JPMS_OPTS[@]}"
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    "-javaagent:$(find "$LIB" -name 'jamm-*.jar' | head -1)"
    "$(marker_of "$node")"
    "-Dcassandra.storagedir=$dir/data"
    "-Dcassandra.logdir=$dir/logs"
    "-Dlogback.configurationFile=file://$dir/conf/logback.xml"
    "-Dcassandra.jmx.local.port=$jmx"
    -Dcassandra-foreground=yes
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.superuser_setup_delay_ms=0
    -Dcassandra.shutdown_announce_in_ms=0
    -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon
  )
  # setsid: the node outlives this script's process group and terminal; the
  # inner shell writes its own PID, which exec hands on to java.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$dir/cassandra.pid" "$JAVA" "${opts[@]}" \
    >"$dir/logs/stdout.log" 2>&1 </dev/null &
  while [[ ! -s "$dir/cassandra.pid" ]]; do
    (($(now_ms) - t0 < 10000)) || die "could not launch $JAVA (no PID in $dir/cassandra.pid)"
    sleep 0.05
  done
  pid="$(<"$dir/cassandra.pid")"
  say "started PID $pid, waiting for CQL on 127.0.0.1:$cql (log: $log)"

  local fail=""
  while :; do
    if grep -q -e "Exception encountered during startup" -e "Fatal exception during initialization" "$log"; then
      fail="Cassandra failed to start"
    elif ! running "$pid"; then
      fail="the JVM exited during startup"
    elif (($(now_ms) - t0 > TIMEOUT * 1000)); then
      fail="CQL not ready after ${TIMEOUT}s"
    elif grep -q "listening for CQL clients" "$log" && port_open "$cql" &&
      { ((fresh_auth == 0)) || grep -q "Created default superuser role" "$log"; }; then
      break
    fi
    if [[ -n "$fail" ]]; then
      log_tail "$log" 30
      log_tail "$dir/logs/stdout.log" 10
      stop_pidfile "$label" "$dir/cassandra.pid" "$(marker_of "$node")" 30 || true
      # the first error says why, whatever was logged after it
      local first
      first="$(grep -m1 -A1 '^ERROR' "$log" | cut -c1-400 || true)"
      [[ -z "$first" ]] || fail="$fail; first error in the log: ${first//$'\n'/ | }"
      die "$fail"
    fi
    sleep 0.25
  done
  printf '%-20s %-30s ready in %s s\n' "$label" "127.0.0.1:$cql" "$(secs_since "$t0")"
}

stop_node() { stop_pidfile "$(label_of "$1")" "$(dir_of "$1")/cassandra.pid" "$(marker_of "$1")" 60; }

status_node() {
  local pid cql
  read -r cql _ <<<"$(ports_of "$1")"
  if pid="$(live_pid "$(dir_of "$1")/cassandra.pid" "$(marker_of "$1")")"; then
    printf '%-20s %-30s running (PID %s)\n' "$(label_of "$1")" "127.0.0.1:$cql" "$pid"
  else
    printf '%-20s %-30s stopped\n' "$(label_of "$1")" "127.0.0.1:$cql"
    return 1
  fi
}

cmd="${1:-}"
case "${2:-all}" in
  all) if [[ ${1:-} == stop ]]; then nodes=(plain keyspaces fault); else nodes=(plain keyspaces); fi ;;
  plain | keyspaces | fault) nodes=("$2") ;;
  *) die "unknown node '$2' (plain, keyspaces or fault)" ;;
esac
case "$cmd" in
  start)
    ensure_java
    fetch_jars
    # both nodes at once; their summary lines are printed in a fixed order
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    pids=()
    for n in "${nodes[@]}"; do
      start_node "$n" >"$out/$n" &
      pids+=("$!")
    done
    rc=0
    for i in "${!nodes[@]}"; do
      n="${nodes[$i]}"
      if ! wait "${pids[$i]}"; then
        rc=1
        read -r cql _ <<<"$(ports_of "$n")"
        printf '%-20s %-30s FAILED (see the messages above)\n' "$(label_of "$n")" "127.0.0.1:$cql" >>"$out/$n"
      fi
    done
    for n in "${nodes[@]}"; do cat "$out/$n"; done
    exit "$rc"
    ;;
  stop)
    pids=()
    for n in "${nodes[@]}"; do
      stop_node "$n" &
      pids+=("$!")
    done
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    exit "$rc"
    ;;
  status)
    rc=0
    for n in "${nodes[@]}"; do status_node "$n" || rc=3; done
    exit "$rc"
    ;;
  *)
    echo "usage: $0 start|stop|status [plain|keyspaces|fault]" >&2
    exit 2
    ;;
esac
