#!/usr/bin/env bash
# The SDK as an integrator gets it: `cmake --install` into a scratch prefix, the
# separate project in sdk/examples configured with CMAKE_PREFIX_PATH and built, and
# its program run against a live server over mTLS.
#   sdk_example_test.sh <e2e_live_server> <source dir> <build dir>
set -euo pipefail
SOURCE_DIR=$2
BUILD_DIR=$3
. "$(dirname "$0")/live_server.sh" "$1"

echo "==> cmake --install $BUILD_DIR --prefix $WORK/prefix"
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" >"$WORK/install.log"

echo "==> configure and build sdk/examples against the installed package"
cmake -S "$SOURCE_DIR/sdk/examples" -B "$WORK/examples" -G Ninja \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build "$WORK/examples" -j 2

echo "==> run defect_report as ops (admin: it also makes sure its category exists)"
PLANTMESH_CERT=$PLANTMESH_CERT_ops PLANTMESH_KEY=$PLANTMESH_KEY_ops \
  "$WORK/examples/defect_report" --vin VIN-SDK-EXAMPLE-1 | tee "$WORK/report.out"
grep -q "reported defect [0-9]* (DEFECT_STATUS_REPORTED)" "$WORK/report.out"

echo "==> a refused call exits non-zero and says why"
if PLANTMESH_CERT=$PLANTMESH_CERT_nobody PLANTMESH_KEY=$PLANTMESH_KEY_nobody \
    "$WORK/examples/defect_report" --vin VIN-SDK-EXAMPLE-2 >"$WORK/denied.out" 2>&1; then
  echo "defect_report succeeded for an identity without roles" >&2
  exit 1
fi
grep -q "PERMISSION_DENIED" "$WORK/denied.out" || { cat "$WORK/denied.out" >&2; exit 1; }
echo "sdk example: OK"
