#include "codegen/plantmesh_generator.h"

#include <google/protobuf/descriptor.h>

#include "codegen/client_generator.h"
#include "codegen/contract.h"
#include "codegen/contracts_generator.h"
#include "codegen/mock_generator.h"
#include "codegen/server_generator.h"

namespace plantmesh::codegen {

bool PlantMeshGenerator::Generate(const google::protobuf::FileDescriptor* file,
                                  const std::string& parameter,
                                  google::protobuf::compiler::GeneratorContext* context,
                                  std::string* error) const {
  if (!parameter.empty()) {
    *error = "protoc-gen-plantmesh takes no parameters, got: " + parameter;
    return false;
  }
  // CMake expects all five files for every service file it lists; a file without
  // services gets nothing (there is nothing to serve or call).
  if (file->service_count() == 0) return true;
  if (!ContractValid(file, error)) return false;
  GenerateServerHeader(file, context);
  GenerateServerSource(file, context);
  GenerateClientHeader(file, context);
  GenerateClientSource(file, context);
  GenerateMockHeader(file, context);
  return true;
}

bool PlantMeshGenerator::GenerateAll(
    const std::vector<const google::protobuf::FileDescriptor*>& files, const std::string& parameter,
    google::protobuf::compiler::GeneratorContext* context, std::string* error) const {
  if (!ContractsGeneratable(files, error)) return false;
  for (const auto* file : files) {
    if (!Generate(file, parameter, context, error)) return false;
  }
  GenerateContracts(files, context);
  return true;
}

}  // namespace plantmesh::codegen
