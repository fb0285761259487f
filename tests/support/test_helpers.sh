# shellcheck shell=bash
# Sourced by the shell tests (tests/e2e/*.sh, tests/deploy/*.sh): their small helpers, once.
#   fail MESSAGE...          prints "FAIL: MESSAGE" to stderr and exits 1
#   free_port                prints a TCP port free on 127.0.0.1 now
#   print_server_logs DIR    the last 30 lines of every DIR/server-*.log, to stderr

fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

print_server_logs() {
  local log
  for log in "$1"/server-*.log; do
    [ -f "$log" ] || continue
    echo "---- $log ----" >&2
    tail -n 30 "$log" >&2
  done
}
