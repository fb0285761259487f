// The protoc plugin entry: for each file that defines services, writes the server
// bases and the SDK client facades.
#pragma once

#include <google/protobuf/compiler/code_generator.h>

#include <string>

namespace plantmesh::codegen {

class PlantMeshGenerator : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;

  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace plantmesh::codegen
