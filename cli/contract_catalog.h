// The command tree of plantctl, derived at run time from the contracts: one command per
// RPC of every plantmesh.* service, one flag per scalar field of its request. The
// descriptors come from a descriptor set embedded at build time with source info, so
// the RPC and field comments of the .proto files become the help text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"

namespace plantmesh::cli {

enum class StreamKind { kUnary, kServerStreaming, kClientStreaming, kBidiStreaming };

// How a flag's text becomes a field value.
enum class FlagKind {
  kScalar,     // string, bytes (base64), numbers, bool, enum (by name or number)
  kTimestamp,  // google.protobuf.Timestamp as RFC 3339
  kFieldMask,  // google.protobuf.FieldMask as comma-separated paths
  kJson,       // --<field>-json: a message field given whole as JSON
};

struct FlagSpec {
  std::string name;  // without the leading "--", e.g. "defect.severity"
  // The field chain from the request root; the last one is set.
  std::vector<const google::protobuf::FieldDescriptor*> path;
  FlagKind kind = FlagKind::kScalar;
  bool repeated = false;
  std::string type_name;  // shown in help: STRING, INT32, ENUM, TIMESTAMP, JSON, ...
  std::string help;       // the field's comment, plus enum values when an enum
};

struct MethodCommand {
  std::string service_command;  // "defect" (the package segment after "plantmesh.")
  std::string name;             // "create-defect"
  std::string grpc_path;        // "/plantmesh.defect.v1.DefectService/CreateDefect"
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string comment;  // the RPC's leading comment
  // What the contract declares (plantmesh/common/contract.h): role names ("qc_engineer"),
  // and "foreman, admin" / "any authenticated identity" / "none (refused to everyone)".
  std::vector<std::string> roles;
  bool any_authenticated = false;
  std::string who_may_call;
  // From idempotency_level: NO_SIDE_EFFECTS and IDEMPOTENT calls are safe to retry.
  bool retry_safe = false;
  StreamKind kind = StreamKind::kUnary;
  std::vector<FlagSpec> flags;
  // The `request_id` string field filled with a UUID when left empty: at the root
  // of the request, or (request_id_parent set) in a singular message field of it,
  // such as a stream's first-message `metadata`.
  const google::protobuf::FieldDescriptor* request_id = nullptr;
  const google::protobuf::FieldDescriptor* request_id_parent = nullptr;
  // "request_id" or "metadata.request_id".
  std::string RequestIdPath() const;
  // bytes fields annotated (plantmesh.api.v1.file_chunk): --from-file / --to-file.
  const google::protobuf::FieldDescriptor* request_file_chunk = nullptr;
  const google::protobuf::FieldDescriptor* response_file_chunk = nullptr;

  // The description shown by `plantctl <service> <method> --help`.
  std::string Description() const;
};

struct ServiceCommand {
  std::string name;  // "defect"
  std::string full_name;
  std::string comment;
};

class ContractCatalog {
 public:
  // Builds the catalog from a serialized google.protobuf.FileDescriptorSet.
  static absl::StatusOr<std::unique_ptr<ContractCatalog>> FromDescriptorSet(
      absl::string_view serialized);
  // The descriptor set of every service contract, embedded in plantctl at build time.
  static absl::StatusOr<std::unique_ptr<ContractCatalog>> Embedded();

  const std::vector<ServiceCommand>& services() const { return services_; }
  const std::vector<MethodCommand>& methods() const { return methods_; }
  const MethodCommand* Find(absl::string_view service, absl::string_view method) const;

  // A new, empty message of a type of this catalog's pool.
  std::unique_ptr<google::protobuf::Message> NewMessage(
      const google::protobuf::Descriptor* type) const;

 private:
  ContractCatalog() = default;
  absl::Status Load(absl::string_view serialized);

  google::protobuf::DescriptorPool pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::vector<ServiceCommand> services_;
  std::vector<MethodCommand> methods_;
};

// CreateDefect → create-defect, WhoAmI → who-am-i.
std::string KebabCase(absl::string_view camel_case);

// The flags of a request type, flattened through singular nested messages up to
// `max_depth` levels ("defect.vin" is depth 2).
std::vector<FlagSpec> FlagsFor(const google::protobuf::Descriptor* request, int max_depth = 2);

// The prefix an enum's value names share, e.g. "SEVERITY_" for Severity.
std::string EnumValuePrefix(const google::protobuf::EnumDescriptor* type);
// SEVERITY_MAJOR → "MAJOR".
std::string ShortEnumName(const google::protobuf::EnumValueDescriptor* value);

}  // namespace plantmesh::cli
