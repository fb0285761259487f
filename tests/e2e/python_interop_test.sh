#!/usr/bin/env bash
# Python interop: stubs generated from proto/ with Debian's grpc_python_plugin, then
# interop/clients/python/defect_client.py (Debian's /usr/bin/python3 with
# python3-grpcio) against a live server over mTLS; then the same client rides through
# a restart of the server (SIGKILL, same port) made by e2e_live_server on SIGUSR1.
#   python_interop_test.sh <e2e_live_server> <source dir>
set -euo pipefail
SOURCE_DIR=$2
. "$(dirname "$0")/live_server.sh" "$1"

mkdir -p "$WORK/gen"
mapfile -t PROTOS < <(cd "$SOURCE_DIR/proto" && find plantmesh -name '*.proto' | sort)
protoc -I "$SOURCE_DIR/proto" --python_out="$WORK/gen" --grpc_python_out="$WORK/gen" \
  --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin "${PROTOS[@]}"

PYTHONPATH="$WORK/gen" /usr/bin/python3 "$SOURCE_DIR/interop/clients/python/defect_client.py" \
  --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
  --cert "$PLANTMESH_CERT_otto" --key "$PLANTMESH_KEY_otto" \
  --expect-identity "spiffe://plantmesh.local/user/otto"

PYTHONPATH="$WORK/gen" /usr/bin/python3 "$SOURCE_DIR/interop/clients/python/defect_client.py" \
  --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
  --cert "$PLANTMESH_CERT_otto" --key "$PLANTMESH_KEY_otto" \
  --restart-check "$WORK/live.env" --live-server-pid "$LIVE_PID"
