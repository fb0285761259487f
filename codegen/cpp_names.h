// How proto names become C++ names and generated file names.
#pragma once

#include <string>

namespace google::protobuf {
class Descriptor;
class FileDescriptor;
class ServiceDescriptor;
}  // namespace google::protobuf

namespace plantmesh::codegen {

// "plantmesh/defect/v1/defect_service.proto" → "plantmesh/defect/v1/defect_service".
std::string FileStem(const google::protobuf::FileDescriptor* file);

// "plantmesh.defect.v1" → "plantmesh::defect::v1" (empty for no package).
std::string CppNamespace(const google::protobuf::FileDescriptor* file);

// Fully qualified C++ class of a message, e.g. "::plantmesh::defect::v1::Defect";
// nested messages are joined with '_' as protoc's C++ generator does.
std::string QualifiedCppClass(const google::protobuf::Descriptor* message);

// DefectService → DefectClient, SystemService → SystemClient.
std::string ClientClassName(const google::protobuf::ServiceDescriptor* service);

// DefectService → DefectConnection: the abstract transport under DefectClient.
std::string ConnectionClassName(const google::protobuf::ServiceDescriptor* service);

// The banner every generated file starts with.
std::string GeneratedBanner(const google::protobuf::FileDescriptor* file);

}  // namespace plantmesh::codegen
