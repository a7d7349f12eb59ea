#!/usr/bin/env bash
# The S3-compatible server Quiver's tests use: moto's server (PyPI
# `moto[server]`, in its own virtualenv) on 127.0.0.1, in memory, any
# credentials accepted. It supports conditional puts (If-None-Match: *), which
# is how delta-rs commits to S3 safely.
#   s3   http://127.0.0.1:15000
# Usage:  scripts/services/s3.sh start|stop|status
# `start` creates the virtualenv ($QUIVER_CACHE/moto-venv) if it is missing,
# does nothing if the server already runs, waits until it answers, and exits
# non-zero with the log tail if it does not. Log and pid file are in
# $QUIVER_SERVICES_DIR/s3/. Data lives in memory: a restart empties it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
SCRIPT_NAME=s3
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$QUIVER_SERVICES_DIR/s3"
VENV="${QUIVER_MOTO_VENV:-$QUIVER_CACHE/moto-venv}"
MOTO_VERSION="${QUIVER_MOTO_VERSION:-5.2.5}"
PORT=$((15000 + QUIVER_PORT_OFFSET))
TIMEOUT="${QUIVER_S3_START_TIMEOUT:-60}"

ensure_moto() {
  if [[ -x "$VENV/bin/moto_server" ]]; then return 0; fi
  say "installing moto[server]==$MOTO_VERSION into $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" ||
    die "pip could not install moto[server]==$MOTO_VERSION"
}

answers() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null; }

start() {
  mkdir -p "$DIR"
  if live_pid "$DIR/moto.pid" moto_server >/dev/null; then
    say "already running"
  else
    ensure_moto
    require_port_free "$PORT" s3
    local t0
    t0="$(now_ms)"
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$DIR/moto.log" 2>&1 &
    echo $! >"$DIR/moto.pid"
    until answers; do
      if ! live_pid "$DIR/moto.pid" moto_server >/dev/null || (($(now_ms) - t0 > TIMEOUT * 1000)); then
        log_tail "$DIR/moto.log"
        die "moto_server did not answer on 127.0.0.1:$PORT within ${TIMEOUT}s"
      fi
      sleep 0.2
    done
    say "started in $(secs_since "$t0") s"
  fi
  echo "s3                   http://127.0.0.1:$PORT   (moto $("$VENV/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p'))"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pidfile s3 "$DIR/moto.pid" moto_server 10 ;;
  status)
    if live_pid "$DIR/moto.pid" moto_server >/dev/null && answers; then echo "s3: up on 127.0.0.1:$PORT"; else echo "s3: down"; exit 3; fi ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2 ;;
esac
