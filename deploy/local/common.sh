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

# The --config file process $1 was started with (or its PLANTMESH_CONFIG, which
# plantmesh-server reads alike), as an absolute path (a relative one is resolved against the
# process's working directory); exit 1 when it has none.
config_of_pid() {
  local dir=/proc/$1 i config cwd
  local -a args=()
  mapfile -d '' -t args 2>/dev/null <"$dir/cmdline" || return 1
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      --config) config=${args[i + 1]:-} ;;
      --config=*) config=${args[i]#--config=} ;;
      *) continue ;;
    esac
    break
  done
  if [ -z "${config:-}" ]; then
    config=$(tr '\0' '\n' 2>/dev/null <"$dir/environ" | sed -n 's/^PLANTMESH_CONFIG=//p' | head -n 1)
  fi
  [ -n "${config:-}" ] || return 1
  if [[ $config != /* ]]; then
    cwd=$(readlink "$dir/cwd" 2>/dev/null) || return 1
    config=$cwd/$config
  fi
  realpath -m -- "$config"
}

# True when pid file $1 names a live process whose command line contains $2, or, for a
# server's config ($2 a .toml file, with or without "--config "), that was started with
# that config however its path was spelt: a pid file left by a process that is gone, whose
# number another program now has, is not ours.
pid_ours() {
  local file=$1 pattern=$2 pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$pattern" && return 0
  [[ $pattern == *.toml ]] || return 1
  [ "$(config_of_pid "$pid")" = "$(realpath -m -- "${pattern#--config }")" ]
}

# The pid of a live process started with config $1 (a server of this mesh started by hand
# with its own config, as the README's Local mesh says one may, by any spelling of its
# path), or nothing (exit 1): up and down find it although no pid file names it (outside
# testing: up called its port "taken by another program", and down said "stopped" and left
# it running).
pid_with_config() {
  local want dir
  want=$(realpath -m -- "$1")
  for dir in /proc/[0-9]*; do
    grep -qF -e --config -e plantmesh-server 2>/dev/null <"$dir/cmdline" || continue
    [ "$(config_of_pid "${dir#/proc/}")" = "$want" ] || continue
    if alive "${dir#/proc/}"; then
      echo "${dir#/proc/}"
      return 0
    fi
  done
  return 1
}

# Records in pid file $1 a server started by hand with config $2 when the file names none
# that is ours; says so. Exit 1 when there is none.
adopt_hand_started() {
  local file=$1 config=$2 pid
  pid_ours "$file" "$config" && return 0
  pid=$(pid_with_config "$config") || return 1
  echo "$pid" >"$file"
  say "$(basename "$config" .toml): pid $pid runs with $config (started by hand): recorded in $file"
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
