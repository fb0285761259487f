# shellcheck shell=bash
# Sourced by the shell tests (tests/e2e/*.sh, tests/deploy/*.sh): their small helpers, once.
#   fail MESSAGE...          prints "FAIL: MESSAGE" to stderr and exits 1
#   free_port                prints a TCP port free on 127.0.0.1 now, below the ephemeral range
#   free_ports N             prints N different such ports
#   print_server_logs DIR    the last 30 lines of every DIR/server-*.log, to stderr

fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
  free_ports 1
}

# free_ports N: N different ports, on one line, free now and below the kernel's ephemeral
# range. Ports asked for one at a time before any is bound can be the same (the kernel
# hands a closed port out again): e2e.runbook_one_host once gave planning and defect-2 one
# port. And a port from the ephemeral range, held unbound for the seconds a server takes
# to start, can be handed meanwhile to any socket that binds port 0 or connects (another
# test's): below that range only a test that picks ports the same way can take it.
free_ports() {
  python3 -c 'import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    port = random.randrange(10000, low)
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        probe.close()
        continue
    held.append(probe)
    ports.append(port)
print(" ".join(str(port) for port in ports))' "$1"
}

print_server_logs() {
  local log
  for log in "$1"/server-*.log; do
    [ -f "$log" ] || continue
    echo "---- $log ----" >&2
    tail -n 30 "$log" >&2
  done
}

# write_redis_conf FILE: a Redis config, as docs/runbook.md has it, with a fresh
# password (requirepass) and no persistence; readable by its owner only.
write_redis_conf() {
  (umask 077 && printf 'requirepass %s\nsave ""\nappendonly no\n' \
    "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$1")
}
