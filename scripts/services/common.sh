# shellcheck shell=bash
# Helpers shared by the scripts in scripts/services/. Sourced, never run:
#   SCRIPT_NAME=redis; source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# Everything a service writes (data, logs, pid files, TLS material) lives under
# QUIVER_SERVICES_DIR, never inside the clone.

QUIVER_CACHE="${QUIVER_CACHE:-$HOME/.cache/quiver}"
QUIVER_SERVICES_DIR="${QUIVER_SERVICES_DIR:-$QUIVER_CACHE/services}"
# Added to every port, to run a second, independent set beside the default one
# (give it its own QUIVER_SERVICES_DIR too). 0 for the addresses in README.md.
QUIVER_PORT_OFFSET="${QUIVER_PORT_OFFSET:-0}"
export QUIVER_CACHE QUIVER_SERVICES_DIR QUIVER_PORT_OFFSET
[[ "$QUIVER_PORT_OFFSET" =~ ^[0-9]+$ ]] || { echo "QUIVER_PORT_OFFSET must be a number" >&2; exit 2; }

say() { echo "[${SCRIPT_NAME:-services}] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

now_ms() { date +%s%3N; }
# seconds since a now_ms timestamp, one decimal: 12.3
secs_since() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# The last lines of a log, on stderr, each prefixed with the service name.
log_tail() { # FILE [LINES]
  [[ -s "$1" ]] || { say "($1 is empty or missing)"; return 0; }
  say "last lines of $1:"
  tail -n "${2:-40}" "$1" | sed "s/^/[${SCRIPT_NAME:-services}] | /" >&2
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_port_free() { # PORT WHAT
  port_open "$1" || return 0
  local owner=""
  command -v ss >/dev/null && owner="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -1 || true)"
  die "port 127.0.0.1:$1 ($2) is already in use${owner:+ by $owner}; stop that process, or pick other ports with QUIVER_PORT_OFFSET"
}

# True while PID runs (a zombie waiting for its parent to reap it has stopped).
running() { # PID
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" && [[ -n "$state" && "$state" != Z ]]
}

# The PID in PIDFILE if that process is alive and its command line contains
# PATTERN (so a stale pid file whose PID was reused never matches).
live_pid() { # PIDFILE PATTERN
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(<"$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] && running "$pid" || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$2"* ]] || return 1
  echo "$pid"
}

# SIGTERM, then SIGKILL after TIMEOUT seconds. Never fails when already stopped.
stop_pidfile() { # NAME PIDFILE PATTERN TIMEOUT
  local name=$1 pidfile=$2 pattern=$3 timeout=$4 pid t0
  if ! pid="$(live_pid "$pidfile" "$pattern")"; then
    rm -f "$pidfile"
    say "$name: not running"
    return 0
  fi
  t0="$(now_ms)"
  kill -TERM "$pid" 2>/dev/null || true
  while running "$pid"; do
    if (($(now_ms) - t0 > timeout * 1000)); then
      say "$name: PID $pid still alive after ${timeout}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  say "$name: stopped PID $pid in $(secs_since "$t0") s"
}

# apt-get install, serialised between our own scripts (up.sh runs them in
# parallel) and waiting for any other apt/dpkg that holds the lock.
apt_install() { # PACKAGE...
  command -v apt-get >/dev/null || die "need $*, and there is no apt-get here: install it yourself"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  local log
  mkdir -p "$QUIVER_CACHE"
  log="$(mktemp "$QUIVER_CACHE/apt.XXXXXX.log")"
  say "installing $* with apt-get (log: $log)"
  (
    flock 9
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq &&
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@"
  ) 9>"$QUIVER_CACHE/.apt.lock" >"$log" 2>&1 || {
    log_tail "$log" 20
    die "apt-get install $* failed"
  }
  rm -f "$log"
}

# A self-made CA and a server certificate for 127.0.0.1 / localhost in DIR:
# ca.pem (what clients trust), ca.key, server.pem, server.key. Kept while the
# server certificate is valid for at least another day.
make_tls() { # DIR NAME
  local dir=$1 name=$2 tmp
  if [[ -s "$dir/ca.pem" && -s "$dir/server.key" && -s "$dir/server.pem" ]] &&
    openssl x509 -checkend 86400 -noout -in "$dir/server.pem" >/dev/null 2>&1; then
    return 0
  fi
  command -v openssl >/dev/null || apt_install openssl
  say "creating a CA and a server certificate in $dir"
  mkdir -p "$dir"
  tmp="$(mktemp -d "$dir/.new.XXXXXX")"
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$tmp/server.ext"
  if ! (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=Quiver test CA ($name)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$tmp/ca.key" -out "$tmp/ca.pem" &&
      openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" &&
      openssl x509 -req -sha256 -days 3650 -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/server.ext" -out "$tmp/server.pem" &&
      openssl verify -CAfile "$tmp/ca.pem" "$tmp/server.pem"
  ) >"$tmp/openssl.log" 2>&1; then
    log_tail "$tmp/openssl.log" 20
    die "openssl could not create the certificates in $dir"
  fi
  chmod 644 "$tmp/ca.pem" "$tmp/server.pem"
  mv -f "$tmp/ca.key" "$tmp/ca.pem" "$tmp/server.key" "$tmp/server.pem" "$dir/"
  rm -rf "$tmp"
}
