# shellcheck shell=bash
# Sourced by the shell tests (tests/e2e/*.sh, tests/deploy/*.sh): their small helpers, once.
#   fail MESSAGE...          prints "FAIL: MESSAGE" to stderr and exits 1
#   free_port                prints a TCP port free on 127.0.0.1 now
#   free_ports N             prints N different such ports
#   print_server_logs DIR    the last 30 lines of every DIR/server-*.log, to stderr

fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
  free_ports 1
}

# free_ports N: N different ports, on one line. Ports asked for one at a time before any is
# bound can be the same (the kernel hands a closed port out again): e2e.runbook_one_host
# once gave planning and defect-2 one port, and gRPC's SO_REUSEPORT let both listen on it.
free_ports() {
  python3 -c 'import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
}

print_server_logs() {
  local log
  for log in "$1"/server-*.log; do
    [ -f "$log" ] || continue
    echo "---- $log ----" >&2
    tail -n 30 "$log" >&2
  done
}
