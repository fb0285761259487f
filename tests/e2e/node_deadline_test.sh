#!/usr/bin/env bash
# A deadline centuries away is none (outside testing: grpc-go sends `grpc-timeout:
# 2562047H` for any deadline 292 years away or more, and every unary call so sent ended
# CANCELLED "the call ended before it started": the runtime read the deadline through a
# clock that wraps after 2262-04-11). Raw HTTP/2 from node, so that the header is sent
# as given. Skipped (77) without node.
#   node_deadline_test.sh <e2e_live_server> <source dir>
set -euo pipefail
SOURCE_DIR=$2
if ! command -v node >/dev/null; then
  echo "node missing: skipped"
  exit 77
fi
. "$(dirname "$0")/live_server.sh" "$1"

node --no-deprecation "$SOURCE_DIR/interop/clients/node/raw_timeout_client.js" \
  --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
  --cert "$PLANTMESH_CERT_otto" --key "$PLANTMESH_KEY_otto" \
  --timeouts 1H,2000000H,2070000H,2562047H,99999999H
