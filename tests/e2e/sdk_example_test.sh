#!/usr/bin/env bash
# The SDK as an integrator gets it: `cmake --install` into a scratch prefix, the
# separate project in sdk/examples configured with CMAKE_PREFIX_PATH and built (with
# its unit test on the installed PlantMesh::sdk_mocks, run by ctest), and its program
# run against a live server over mTLS as identities with and without the roles it
# needs; then a one-file program built with nothing but
# `pkg-config --cflags --libs plantmesh`.
#   sdk_example_test.sh <e2e_live_server> <source dir> <build dir> [<compile flags> <link flags>]
# The flags (sanitizer builds) are added to both programs' compile and link lines.
set -euo pipefail
SOURCE_DIR=$2
BUILD_DIR=$3
EXTRA_CXXFLAGS=${4:-}
EXTRA_LDFLAGS=${5:-}
. "$(dirname "$0")/live_server.sh" "$1"

echo "==> cmake --install $BUILD_DIR --prefix $WORK/prefix"
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" >"$WORK/install.log"

echo "==> configure and build sdk/examples against the installed package (with sdk_mocks)"
cmake -S "$SOURCE_DIR/sdk/examples" -B "$WORK/examples" -G Ninja \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$EXTRA_CXXFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA_LDFLAGS"
cmake --build "$WORK/examples" -j 2
grep -q "PlantMesh::sdk_mocks" "$WORK/prefix"/lib*/cmake/PlantMesh/PlantMeshMocksTargets.cmake

echo "==> the examples' unit test on the installed mocks (no server)"
ctest --test-dir "$WORK/examples" --output-on-failure | tee "$WORK/ctest.out"
grep -q "100% tests passed, 0 tests failed out of 1" "$WORK/ctest.out"

echo "==> defect_report --help says how to use it (exit 0); a bad flag says so with it (exit 2)"
"$WORK/examples/defect_report" --help | grep -q "^usage: defect_report --endpoint"
set +e
"$WORK/examples/defect_report" --vni X >"$WORK/usage.out" 2>&1
usage_rc=$?
set -e
[ "$usage_rc" = 2 ] && grep -q "unknown flag or missing value: --vni" "$WORK/usage.out" &&
  grep -q "^usage: defect_report" "$WORK/usage.out" || { cat "$WORK/usage.out" >&2; exit 1; }

echo "==> run defect_report as ops (admin: it also makes sure its category exists)"
PLANTMESH_CERT=$PLANTMESH_CERT_ops PLANTMESH_KEY=$PLANTMESH_KEY_ops \
  "$WORK/examples/defect_report" --vin VIN-SDK-EXAMPLE-1 | tee "$WORK/report.out"
grep -q "reported defect [0-9]* (DEFECT_STATUS_REPORTED)" "$WORK/report.out"

echo "==> run defect_report as anna (foreman: reports into the existing category)"
PLANTMESH_CERT=$PLANTMESH_CERT_anna PLANTMESH_KEY=$PLANTMESH_KEY_anna \
  "$WORK/examples/defect_report" --vin VIN-SDK-EXAMPLE-3 | tee "$WORK/foreman.out"
grep -q "reported defect [0-9]* (DEFECT_STATUS_REPORTED)" "$WORK/foreman.out"

echo "==> a foreman is told who may create a missing category (nothing reported)"
if PLANTMESH_CERT=$PLANTMESH_CERT_anna PLANTMESH_KEY=$PLANTMESH_KEY_anna \
    "$WORK/examples/defect_report" --vin VIN-SDK-EXAMPLE-4 --category NO-SUCH-CAT \
    >"$WORK/category.out" 2>&1; then
  echo "defect_report succeeded with a category it may not create" >&2
  exit 1
fi
grep -q "NO-SUCH-CAT does not exist, and creating it needs the role qc_engineer or admin" \
  "$WORK/category.out" || { cat "$WORK/category.out" >&2; exit 1; }

echo "==> an identity without the role is stopped by the WhoAmI check, naming the roles"
if PLANTMESH_CERT=$PLANTMESH_CERT_nobody PLANTMESH_KEY=$PLANTMESH_KEY_nobody \
    "$WORK/examples/defect_report" --vin VIN-SDK-EXAMPLE-2 >"$WORK/denied.out" 2>&1; then
  echo "defect_report succeeded for an identity without roles" >&2
  exit 1
fi
grep -q "PERMISSION_DENIED" "$WORK/denied.out" || { cat "$WORK/denied.out" >&2; exit 1; }
grep -q "WhoAmI failed" "$WORK/denied.out" || { cat "$WORK/denied.out" >&2; exit 1; }
grep -q "needs one of the roles operator, foreman, qc_engineer, admin, integrator" \
  "$WORK/denied.out" || { cat "$WORK/denied.out" >&2; exit 1; }
echo "==> the README's first program (sdk/examples/minimal) is the file, and it works"
# The code block after "<!-- FILE -->" in the README.
readme_block() {
  awk -v marker="<!-- $1 -->" '
    $0 == marker { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$SOURCE_DIR/README.md"
}
for file in sdk/examples/minimal/CMakeLists.txt sdk/examples/minimal/main.cc; do
  diff -u "$SOURCE_DIR/$file" <(readme_block "$file") ||
    { echo "README's copy of $file differs from the file" >&2; exit 1; }
done
# At C++14, as a project of its own may be: the package raises it to the C++17 it needs
# (outside testing: such a project failed deep in status.h on std::optional).
cmake -S "$SOURCE_DIR/sdk/examples/minimal" -B "$WORK/minimal" -G Ninja \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=14 \
  -DCMAKE_CXX_FLAGS="$EXTRA_CXXFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA_LDFLAGS"
cmake --build "$WORK/minimal"
"$WORK/minimal/minimal_report" "$PLANTMESH_ENDPOINT" "$PLANTMESH_CA" \
  "$PLANTMESH_CERT_anna" "$PLANTMESH_KEY_anna" | tee "$WORK/minimal.out"
grep -Eqx "reported defect [0-9]+" "$WORK/minimal.out"
# A key that is not the certificate's: told which, before any call.
if "$WORK/minimal/minimal_report" "$PLANTMESH_ENDPOINT" "$PLANTMESH_CA" \
    "$PLANTMESH_CERT_anna" "$PLANTMESH_KEY_ops" >"$WORK/minimal-key.out" 2>&1; then
  echo "minimal_report ran with another identity's key" >&2
  exit 1
fi
grep -q "key_file" "$WORK/minimal-key.out" || { cat "$WORK/minimal-key.out" >&2; exit 1; }

echo "==> a one-file program built with pkg-config --cflags --libs plantmesh"
cat >"$WORK/whoami.cc" <<'CC'
#include <cstdio>
#include <cstdlib>

#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

int main() {
  plantmesh::sdk::ClientOptions options;
  options.endpoint = std::getenv("PLANTMESH_ENDPOINT");
  options.ca_file = std::getenv("PLANTMESH_CA");
  options.cert_file = std::getenv("PLANTMESH_CERT");
  options.key_file = std::getenv("PLANTMESH_KEY");
  auto system = plantmesh::sdk::SystemClient::Connect(options);
  if (!system.ok()) {
    std::fprintf(stderr, "connect: %s\n", system.status().ToString().c_str());
    return 1;
  }
  auto me = system->WhoAmI(plantmesh::system::v1::WhoAmIRequest());
  if (!me.ok()) {
    std::fprintf(stderr, "WhoAmI: %s\n", plantmesh::sdk::DescribeStatus(me.status()).c_str());
    return 1;
  }
  std::printf("identity %s\n", me->identity().c_str());
  for (const std::string& role : me->roles()) std::printf("role %s\n", role.c_str());
  // The defect client links from the same flags.
  auto defects = plantmesh::sdk::DefectClient::Connect(options);
  return defects.ok() ? 0 : 1;
}
CC
PC_FILE=$(find "$WORK/prefix" -name plantmesh.pc | head -n 1)
[ -n "$PC_FILE" ] || { echo "plantmesh.pc was not installed" >&2; exit 1; }
PKG_CONFIG_PATH="$(dirname "$PC_FILE")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
# shellcheck disable=SC2046,SC2086  # pkg-config's output and the flags are lists of words
g++ -std=c++17 $EXTRA_CXXFLAGS -o "$WORK/whoami" "$WORK/whoami.cc" \
  $(pkg-config --cflags --libs plantmesh) $EXTRA_LDFLAGS
PLANTMESH_CERT=$PLANTMESH_CERT_anna PLANTMESH_KEY=$PLANTMESH_KEY_anna \
  "$WORK/whoami" | tee "$WORK/whoami.out"
grep -qx "identity spiffe://plantmesh.local/user/anna" "$WORK/whoami.out"
grep -qx "role foreman" "$WORK/whoami.out"
# Below C++17 the first SDK header says so (outside testing: a deep error on std::optional).
# shellcheck disable=SC2046  # pkg-config's output is a list of words
if g++ -std=c++14 -fsyntax-only "$WORK/whoami.cc" $(pkg-config --cflags plantmesh) \
    2>"$WORK/cxx14.err"; then
  echo "the SDK compiled at C++14" >&2
  exit 1
fi
grep -q "the PlantMesh SDK needs C++17 or later" "$WORK/cxx14.err" || { cat "$WORK/cxx14.err" >&2; exit 1; }
echo "sdk example: OK"
