#!/usr/bin/env bash
# Hostile inputs (tests/e2e/hostile_inputs.py) against a live mesh: every method of
# every service, from a client that knows only the contracts, under a few fixed seeds.
# A failure prints the method, the status and the request; replay one with
#   hostile_inputs.py ... --seed N --only MethodName
#   hostile_inputs_test.sh <e2e_live_server> <source dir> [seed...]
set -euo pipefail
SOURCE_DIR=$2
SEEDS=("${@:3}")
[ "${#SEEDS[@]}" -gt 0 ] || SEEDS=(1 2 3)
. "$(dirname "$0")/live_server.sh" "$1"

mapfile -t PROTOS < <(cd "$SOURCE_DIR/proto" && find plantmesh -name '*.proto' | sort)
protoc -I "$SOURCE_DIR/proto" --include_imports --descriptor_set_out="$WORK/contracts.pb" \
  "${PROTOS[@]}"

status=0
for seed in "${SEEDS[@]}"; do
  /usr/bin/python3 "$SOURCE_DIR/tests/e2e/hostile_inputs.py" --descriptors "$WORK/contracts.pb" \
    --endpoint "$PLANTMESH_ENDPOINT" --ca "$PLANTMESH_CA" \
    --cert "$PLANTMESH_CERT_ops" --key "$PLANTMESH_KEY_ops" --seed "$seed" || status=1
done
exit "$status"
