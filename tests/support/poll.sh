# Sourced by the shell tests: the one way they wait for state another process changes
# (tests/support/poll.h is the C++ twin). No bare sleeps: the wait ends as soon as the
# condition holds, and the deadline is generous for a busy CI machine.
#   . tests/support/poll.sh
#   poll SECONDS COMMAND...   runs COMMAND until it succeeds (true), or false once
#                             SECONDS have passed; looks again every POLL_INTERVAL (0.2 s)
poll() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep "${POLL_INTERVAL:-0.2}"
  done
}
