# Shared by deploy/local/up and down: where things live and small helpers.
# Everything is under the state directory, $PLANTMESH_STATE_DIR (default .plantmesh/ in
# the checkout), so a second state directory (a test's) is a second, separate mesh.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${PLANTMESH_STATE_DIR:-$ROOT/.plantmesh}
BUILD=${BUILD_DIR:-$ROOT/build}
PG_BIN=/usr/lib/postgresql/15/bin
SERVER_BIN=$BUILD/server/plantmesh-server
PLANTCTL=$BUILD/cli/plantctl
PORTS_FILE=$STATE/ports.env
RUN=$STATE/run

say() { printf '==> %s\n' "$*"; }

# Runs a PostgreSQL tool as the cluster owner: postgres refuses to run as root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports handed out by claim_port in this run (nothing listens on them yet).
CLAIMED_PORTS=" "
# Sets variable $1 to the first port from $2 up that nothing listens on and this run has
# not handed out. Not to be called in $(...): the claim would stay in the subshell, and
# the next claim could hand out the same port (outside testing: two listeners of the
# mesh on one port, both services dead at start).
claim_port() {
  local candidate=$2
  while [ "$candidate" -le 65535 ] &&
    { port_in_use "$candidate" || [[ $CLAIMED_PORTS == *" $candidate "* ]]; }; do
    candidate=$((candidate + 1))
  done
  if [ "$candidate" -gt 65535 ]; then
    echo "no free port from $2 to 65535: choose lower first ports (PLANTMESH_*_PORT)" >&2
    exit 2
  fi
  CLAIMED_PORTS+="$candidate "
  printf -v "$1" '%s' "$candidate"
}

# True while process $1 runs (a zombie, exited but not yet reaped by whoever adopted
# it, does not count).
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# True when pid file $1 names a live process whose command line contains $2: a pid
# file left by a process that is gone, whose number another program now has, is not ours.
pid_ours() {
  local file=$1 pattern=$2 pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# The services plantmesh-server hosts, from the contracts it carries (its --version:
# every plantmesh.<name>.v1 package but system, which every server hosts).
mesh_services() {
  "$SERVER_BIN" --version | sed -n 's/^contracts: \(.*\) (fingerprint.*/\1/p' | tr ',' '\n' \
    | sed -n 's/^ *plantmesh\.\([a-z_]*\)\.v1$/\1/p' | grep -vx system
}

# Sends SIGTERM to the process of pid file $1 (if it is ours, pattern $2), waits up to
# $3 seconds for it to exit, then SIGKILL; removes the pid file.
stop_pid() {
  local file=$1 pattern=$2 seconds=$3 pid deadline
  if pid_ours "$file" "$pattern"; then
    pid=$(cat "$file")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + seconds))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if alive "$pid"; then
      echo "pid $pid did not stop within ${seconds}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}
