#!/usr/bin/env bash
# Keepalive that every client can live with (issue 7): a grpc-js client pinging every 5 s
# keeps an idle WatchDefects stream open for more than 30 s; one pinging every second is
# disconnected with GOAWAY too_many_pings, and the server's log names it and the policy.
# Both clients run at once, so the test takes the 32 s hold plus the mesh's start.
# Skipped (77) without node_modules (run `npm ci` at the repository root).
#   node_keepalive_test.sh <e2e_live_server> <source dir>
set -euo pipefail
SOURCE_DIR=$2
if ! command -v node >/dev/null || [ ! -d "$SOURCE_DIR/node_modules/@grpc/grpc-js" ]; then
  echo "node or node_modules/@grpc/grpc-js missing (npm ci): skipped"
  exit 77
fi
. "$(dirname "$0")/live_server.sh" "$1"

client() {
  NODE_PATH="$SOURCE_DIR/node_modules" node --no-deprecation \
    "$SOURCE_DIR/interop/clients/node/keepalive_client.js" \
    --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
    --cert "$PLANTMESH_CERT_otto" --key "$PLANTMESH_KEY_otto" \
    --proto-dir "$SOURCE_DIR/proto" "$@"
}
client --keepalive-ms 5000 --hold-ms 32000 --expect survive >"$WORK/survive.out" 2>&1 &
SURVIVE_PID=$!
client --keepalive-ms 1000 --hold-ms 30000 --expect goaway >"$WORK/goaway.out" 2>&1 &
GOAWAY_PID=$!
status=0
wait "$SURVIVE_PID" || status=1
wait "$GOAWAY_PID" || status=1
echo "-- keepalive 5 s --"; cat "$WORK/survive.out"
echo "-- keepalive 1 s --"; cat "$WORK/goaway.out"

# The server's log is printed when the live server stops.
kill -TERM "$LIVE_PID"
wait "$LIVE_PID" || status=1
LIVE_PID=
warning=$(grep -E "client ipv4:127\.0\.0\.1:[0-9]+ pinged too often" "$WORK/live.log" || true)
if [ -z "$warning" ]; then
  echo "FAIL the server did not log the client that pinged too often"
  status=1
else
  echo "ok   server log: $warning"
  for policy in "every 5 s or more slowly" "grpc.keepalive_time_ms >= 5000"; do
    if ! grep -qF "$policy" <<<"$warning"; then
      echo "FAIL the server's warning does not say \"$policy\""
      status=1
    fi
  done
fi
if [ "$(grep -c "pinged too often" "$WORK/live.log")" -ne 1 ]; then
  echo "FAIL expected exactly one disconnected client (the 1 s one)"
  status=1
fi
exit "$status"
