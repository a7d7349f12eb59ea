#!/usr/bin/env bash
# The Redis servers Quiver's tests use, as plain daemons (no systemd) on 127.0.0.1:
#   plain   redis://127.0.0.1:16379   no auth, no persistence
#   secure  rediss://127.0.0.1:16380  TLS only, password quiver-test-password,
#           CA certificate for clients: $QUIVER_SERVICES_DIR/redis/tls/ca.pem
# Usage:  scripts/services/redis.sh start|stop|status [plain|secure]   (default: both)
# `start` installs redis-server with apt-get if it is missing, does nothing for
# an instance that already runs, waits until each answers PING, and exits
# non-zero with the log tail if one does not come up. `stop` never fails when
# already stopped. Config, log and pid file of each instance are in
# $QUIVER_SERVICES_DIR/redis/{plain,secure}/ (default ~/.cache/quiver/services).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
SCRIPT_NAME=redis
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PASSWORD=quiver-test-password
BASE="$QUIVER_SERVICES_DIR/redis"
TLS_DIR="$BASE/tls"
TIMEOUT="${QUIVER_REDIS_START_TIMEOUT:-30}"

port_of() { if [[ $1 == plain ]]; then echo $((16379 + QUIVER_PORT_OFFSET)); else echo $((16380 + QUIVER_PORT_OFFSET)); fi; }
label_of() { if [[ $1 == plain ]]; then echo redis; else echo redis-secure; fi; }
url_of() { if [[ $1 == plain ]]; then echo "redis://127.0.0.1:$(port_of plain)"; else echo "rediss://127.0.0.1:$(port_of secure)"; fi; }

ensure_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
      die "redis-server and redis-cli are still not on PATH after installing redis-server redis-tools"
    fi
  fi
  # Debian builds Redis with BUILD_TLS=yes (redis-server links libssl); a build
  # without it cannot serve the secure instance.
  if [[ "$(ldd "$(readlink -f "$(command -v redis-server)")" 2>/dev/null)" != *libssl* ]]; then
    die "$(command -v redis-server) ($(redis-server --version | head -1)) is built without TLS support; the secure instance needs a build with BUILD_TLS=yes (Debian's redis-server package has it)"
  fi
}

cli() { # INSTANCE ARGS...
  local inst=$1
  shift
  if [[ $inst == plain ]]; then
    timeout 5 redis-cli -h 127.0.0.1 -p "$(port_of plain)" "$@"
  else
    REDISCLI_AUTH="$PASSWORD" timeout 5 redis-cli --tls --cacert "$TLS_DIR/ca.pem" \
      -h 127.0.0.1 -p "$(port_of secure)" "$@"
  fi
}

pings() { [[ "$(cli "$1" ping 2>/dev/null)" == PONG ]]; }

write_conf() { # INSTANCE DIR
  local inst=$1 dir=$2
  {
    echo "# Written by scripts/services/redis.sh on every start: edit the script, not this file."
    echo "bind 127.0.0.1"
    echo "protected-mode yes"
    echo "daemonize yes"
    echo "pidfile $dir/redis.pid"
    echo "logfile $dir/redis.log"
    echo "dir $dir"
    echo 'save ""'
    echo "appendonly no"
    if [[ $inst == plain ]]; then
      echo "port $(port_of plain)"
    else
      echo "port 0"
      echo "tls-port $(port_of secure)"
      echo "tls-cert-file $TLS_DIR/server.pem"
      echo "tls-key-file $TLS_DIR/server.key"
      echo "tls-ca-cert-file $TLS_DIR/ca.pem"
      echo "tls-auth-clients no"
      echo "requirepass $PASSWORD"
    fi
  } >"$dir/redis.conf"
}

start_one() { # INSTANCE
  local inst=$1 dir="$BASE/$1" t0 port pid label url
  t0="$(now_ms)"
  port="$(port_of "$inst")" label="$(label_of "$inst")" url="$(url_of "$inst")"
  mkdir -p "$dir"
  if pid="$(live_pid "$dir/redis.pid" redis-server)" && pings "$inst"; then
    printf '%-20s %-30s already running (PID %s)\n' "$label" "$url" "$pid"
    return 0
  fi
  [[ -z "$pid" ]] || die "$label: PID $pid from $dir/redis.pid is a redis-server that does not answer PING on $url; stop it first (redis.sh stop $inst)"
  rm -f "$dir/redis.pid"
  require_port_free "$port" "$label"
  [[ $inst == plain ]] || make_tls "$TLS_DIR" redis
  write_conf "$inst" "$dir"
  if [[ -f "$dir/redis.log" ]]; then mv -f "$dir/redis.log" "$dir/redis.log.old"; fi
  if ! redis-server "$dir/redis.conf" >"$dir/stderr.log" 2>&1; then
    log_tail "$dir/stderr.log"
    log_tail "$dir/redis.log"
    die "$label: redis-server refused to start"
  fi
  while ! pings "$inst"; do
    pid="$(live_pid "$dir/redis.pid" redis-server || true)"
    if [[ -z "$pid" ]] && (($(now_ms) - t0 > 10000)); then
      log_tail "$dir/redis.log"
      die "$label: redis-server is not running (no live PID in $dir/redis.pid)"
    fi
    if (($(now_ms) - t0 > TIMEOUT * 1000)); then
      log_tail "$dir/redis.log"
      [[ -z "$pid" ]] || kill -TERM "$pid" 2>/dev/null || true
      die "$label: no PONG on $url after ${TIMEOUT}s"
    fi
    sleep 0.1
  done
  printf '%-20s %-30s ready in %s s\n' "$label" "$url" "$(secs_since "$t0")"
}

stop_one() { stop_pidfile "$(label_of "$1")" "$BASE/$1/redis.pid" redis-server 30; }

status_one() {
  local pid
  if pid="$(live_pid "$BASE/$1/redis.pid" redis-server)"; then
    printf '%-20s %-30s running (PID %s)\n' "$(label_of "$1")" "$(url_of "$1")" "$pid"
  else
    printf '%-20s %-30s stopped\n' "$(label_of "$1")" "$(url_of "$1")"
    return 1
  fi
}

cmd="${1:-}"
case "${2:-all}" in
  all) instances=(plain secure) ;;
  plain | secure) instances=("$2") ;;
  *) die "unknown instance '$2' (plain or secure)" ;;
esac
case "$cmd" in
  start)
    ensure_redis
    rc=0
    for i in "${instances[@]}"; do
      # in the background so that errexit stays on inside start_one
      start_one "$i" &
      wait "$!" || {
        rc=1
        printf '%-20s %-30s FAILED (see the messages above)\n' "$(label_of "$i")" "$(url_of "$i")"
      }
    done
    exit "$rc"
    ;;
  stop) for i in "${instances[@]}"; do stop_one "$i"; done ;;
  status)
    rc=0
    for i in "${instances[@]}"; do status_one "$i" || rc=3; done
    exit "$rc"
    ;;
  *)
    echo "usage: $0 start|stop|status [plain|secure]" >&2
    exit 2
    ;;
esac
