#!/usr/bin/env bash
# --version of plantctl and plantmesh-server: the CMake project version, the git revision
# (or "unknown"), the contract packages; and the build-info script's answer for a source
# tree without .git (a release tarball), with and without -DPLANTMESH_GIT_REVISION.
# Usage: version_test.sh PLANTCTL SERVER SOURCE_DIR PROJECT_VERSION
set -euo pipefail
plantctl=$1 server=$2 source=$3 version=$4
fail() { echo "FAIL: $*" >&2; exit 1; }

for program in "$plantctl" "$server"; do
  name=$(basename "$program")
  out=$("$program" --version) || fail "$name --version exited $?"
  echo "$out"
  first=$(printf '%s\n' "$out" | sed -n 1p)
  [[ $first =~ ^$name\ $version\ \(git\ ([0-9a-f]{12}(-dirty)?|unknown)\)$ ]] ||
    fail "$name: first line \"$first\""
  # Every contract package, in name order; defect and system are always among them.
  contracts=$(printf '%s\n' "$out" | grep -E '^contracts: (plantmesh\.[a-z]+\.v1, )*plantmesh\.[a-z]+\.v1 \(fingerprint [0-9a-f]{12}\)$') ||
    fail "$name: no contracts line"
  [[ $contracts == *"plantmesh.defect.v1"* && $contracts == *"plantmesh.system.v1"* ]] ||
    fail "$name: contracts line without defect or system: $contracts"
done
# Built from a git checkout here: the revision is HEAD's.
if head=$(git -C "$source" rev-parse --short=12 HEAD 2>/dev/null); then
  "$plantctl" --version | grep -q "(git $head" || fail "plantctl does not report HEAD $head"
fi
# Both report the same build.
[ "$("$plantctl" --version | sed 1d)" = "$("$server" --version | sed 1d)" ] ||
  fail "plantctl and plantmesh-server carry different contracts"

# A tarball: the sources without .git.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src/proto/plantmesh/x/v1"
printf 'syntax = "proto3";\npackage plantmesh.x.v1;\n' >"$scratch/src/proto/plantmesh/x/v1/x_service.proto"
run_script() {
  cmake "-DSOURCE_DIR=$scratch/src" "-DOUTPUT=$scratch/out.cc" -DVERSION=9.8.7 \
    "-DPROTO_ROOT=$scratch/src/proto" -DSERVICE_PROTOS=plantmesh/x/v1/x_service.proto \
    -DALL_PROTOS=plantmesh/x/v1/x_service.proto "-DGIT_REVISION_OVERRIDE=$1" \
    -P "$source/cmake/write_build_info.cmake"
}
run_script ""
grep -q 'kGitRevision\[\] = "unknown"' "$scratch/out.cc" || fail "tarball: $(cat "$scratch/out.cc")"
grep -q 'kVersion\[\] = "9.8.7"' "$scratch/out.cc" || fail "tarball version"
grep -q '"plantmesh.x.v1"' "$scratch/out.cc" || fail "tarball packages"
run_script "v9.8.7-release"
grep -q 'kGitRevision\[\] = "v9.8.7-release"' "$scratch/out.cc" || fail "override"
echo PASS
