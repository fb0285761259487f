#include "common/build_info/build_info.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace plantmesh::build_info {

std::string VersionText(const std::string& program) {
  return absl::StrCat(program, " ", kVersion, " (git ", kGitRevision,
                      ")\ncontracts: ", absl::StrJoin(ContractPackages(), ", "), " (fingerprint ",
                      kContractFingerprint, ")\n");
}

}  // namespace plantmesh::build_info
