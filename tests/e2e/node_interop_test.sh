#!/usr/bin/env bash
# Node.js interop: interop/clients/node/defect_client.js (@grpc/grpc-js, protos loaded
# at run time) against a live server over mTLS; then the same client rides through a
# restart of the server (SIGKILL, same port) made by e2e_live_server on SIGUSR1.
# Skipped (77) without node_modules (run `npm ci` at the repository root).
#   node_interop_test.sh <e2e_live_server> <source dir>
set -euo pipefail
SOURCE_DIR=$2
if ! command -v node >/dev/null || [ ! -d "$SOURCE_DIR/node_modules/@grpc/grpc-js" ]; then
  echo "node or node_modules/@grpc/grpc-js missing (npm ci): skipped"
  exit 77
fi
. "$(dirname "$0")/live_server.sh" "$1"

NODE_PATH="$SOURCE_DIR/node_modules" node --no-deprecation "$SOURCE_DIR/interop/clients/node/defect_client.js" \
  --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
  --cert "$PLANTMESH_CERT_otto" --key "$PLANTMESH_KEY_otto" \
  --proto-dir "$SOURCE_DIR/proto" --expect-identity "spiffe://plantmesh.local/user/otto"

NODE_PATH="$SOURCE_DIR/node_modules" node --no-deprecation "$SOURCE_DIR/interop/clients/node/defect_client.js" \
  --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
  --cert "$PLANTMESH_CERT_otto" --key "$PLANTMESH_KEY_otto" \
  --proto-dir "$SOURCE_DIR/proto" \
  --restart-check "$WORK/live.env" --live-server-pid "$LIVE_PID"
