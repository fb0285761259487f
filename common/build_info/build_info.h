// What a PlantMesh binary was built from, for `--version` (plantctl, plantmesh-server)
// and WhoAmI's server_version. Written at build time by cmake/write_build_info.cmake.
#pragma once

#include <string>
#include <vector>

namespace plantmesh::build_info {

// The CMake project version, e.g. "0.1.0".
extern const char kVersion[];
// The source's git commit (12 hex digits, "-dirty" when tracked files had changes),
// the packager's -DPLANTMESH_GIT_REVISION, or "unknown" (a tarball without .git).
extern const char kGitRevision[];
// The first 12 hex digits of the SHA-256 over every .proto contract file.
extern const char kContractFingerprint[];
// The contract packages (one per service file), sorted: "plantmesh.defect.v1", ...
const std::vector<std::string>& ContractPackages();

// "<program> 0.1.0 (git 3d0107a1b2c3)\n
//  contracts: plantmesh.defect.v1, plantmesh.system.v1 (fingerprint 1a2b3c4d5e6f)\n"
std::string VersionText(const std::string& program);

}  // namespace plantmesh::build_info
