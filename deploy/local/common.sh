# Shared by deploy/local/up and down: where things live and small helpers.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${PLANTMESH_STATE_DIR:-$ROOT/.plantmesh}
BUILD=${BUILD_DIR:-$ROOT/build}
PG_BIN=/usr/lib/postgresql/15/bin
SERVER_BIN=$BUILD/server/plantmesh-server
PLANTCTL=$BUILD/cli/plantctl
PORTS_FILE=$STATE/ports.env

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

# The first port from $1 up that nothing listens on.
free_port_from() {
  local port=$1
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
