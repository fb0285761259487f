# Sourced by the out-of-process client tests: starts e2e_live_server ($1 of the
# caller) in the background, waits for its env file, sources it, and stops it on exit.
#   . live_server.sh <e2e_live_server binary>
# Sets WORK (scratch directory, removed on exit) and the PLANTMESH_* variables.
set -euo pipefail

LIVE_SERVER_BIN=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/plantmesh-e2e-XXXXXX")
LIVE_PID=

stop_live_server() {
  local code=$?
  if [ -n "$LIVE_PID" ]; then
    kill -TERM "$LIVE_PID" 2>/dev/null || true
    # Non-zero when its plantmesh-server had a sanitizer finding (sanitizer builds).
    local live_code=0
    wait "$LIVE_PID" 2>/dev/null || live_code=$?
    if [ "$live_code" -ne 0 ] && [ "$code" -eq 0 ]; then
      echo "e2e_live_server exited with $live_code" >&2
      code=1
    fi
  fi
  if [ "$code" -ne 0 ] && [ -f "$WORK/live.log" ]; then
    echo "---- e2e_live_server log ----" >&2
    tail -n 200 "$WORK/live.log" >&2
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap stop_live_server EXIT

"$LIVE_SERVER_BIN" "$WORK/live.env" >"$WORK/live.log" 2>&1 &
LIVE_PID=$!
for _ in $(seq 1 600); do
  [ -f "$WORK/live.env" ] && break
  if ! kill -0 "$LIVE_PID" 2>/dev/null; then
    echo "e2e_live_server exited before it was ready" >&2
    exit 1
  fi
  sleep 0.1
done
[ -f "$WORK/live.env" ] || { echo "e2e_live_server not ready after 60 s" >&2; exit 1; }
# shellcheck disable=SC1091
set -a
. "$WORK/live.env"
set +a
echo "live mesh at $PLANTMESH_ENDPOINT"
