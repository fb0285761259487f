#include "cli/contract_catalog.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/embedded_contracts.h"
#include "google/protobuf/descriptor.pb.h"
#include "plantmesh/common/contract.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::MethodOptions;
using google::protobuf::SourceLocation;

// A leading comment without the space protoc keeps after "//".
template <typename DescriptorT>
std::string CommentOf(const DescriptorT* descriptor) {
  SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return "";
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(location.leading_comments, '\n')) {
    lines.emplace_back(absl::StripAsciiWhitespace(line));
  }
  return std::string(absl::StripAsciiWhitespace(absl::StrJoin(lines, "\n")));
}

std::string ServiceCommandName(const google::protobuf::ServiceDescriptor* service) {
  std::vector<std::string> parts = absl::StrSplit(service->file()->package(), '.');
  return parts.size() >= 2 ? parts[1] : KebabCase(service->name());
}

std::string TypeNameOf(const FieldDescriptor* field) {
  if (field->type() == FieldDescriptor::TYPE_ENUM) return "ENUM";
  return absl::AsciiStrToUpper(field->type_name());
}

std::string EnumHelp(const google::protobuf::EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() == 0) continue;
    names.push_back(absl::AsciiStrToLower(ShortEnumName(type->value(i))));
  }
  return absl::StrCat(" [", absl::StrJoin(names, "|"), "]");
}

// What the contract's text rule (plantmesh.api.v1.text) lets a string field hold, for
// --help; empty for one line without a limit of its own (every string's base rule).
std::string TextHelp(const FieldDescriptor* field) {
  const std::string rule = contract::DescribeTextRule(contract::TextRuleOf(field));
  return rule.empty() ? "" : absl::StrCat(" [", rule, "]");
}

void AddFlags(const Descriptor* type, const std::string& prefix,
              std::vector<const FieldDescriptor*> path, int depth, int max_depth,
              std::vector<FlagSpec>* flags) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    FlagSpec flag;
    flag.name = prefix + field->name();
    flag.path = path;
    flag.path.push_back(field);
    flag.repeated = field->is_repeated();
    flag.help = CommentOf(field);
    flag.type_name = TypeNameOf(field);
    if (field->type() == FieldDescriptor::TYPE_ENUM) flag.help += EnumHelp(field->enum_type());
    if (field->type() == FieldDescriptor::TYPE_BYTES) flag.help += " (base64)";
    if (field->type() == FieldDescriptor::TYPE_STRING) flag.help += TextHelp(field);
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      flags->push_back(std::move(flag));
      continue;
    }
    const std::string& message_type = field->message_type()->full_name();
    if (!field->is_repeated() && message_type == "google.protobuf.Timestamp") {
      flag.kind = FlagKind::kTimestamp;
      flag.type_name = "RFC3339";
      flags->push_back(std::move(flag));
      continue;
    }
    if (!field->is_repeated() && message_type == "google.protobuf.FieldMask") {
      flag.kind = FlagKind::kFieldMask;
      flag.type_name = "PATHS";
      flag.help += " (comma-separated field paths)";
      flags->push_back(std::move(flag));
      continue;
    }
    // Every message field can be given whole as JSON; singular ones are also flattened.
    FlagSpec json = flag;
    json.name += "-json";
    json.kind = FlagKind::kJson;
    json.repeated = false;
    json.type_name = "JSON";
    // With the message's fields, so that one can be written without the .proto at hand
    // (outside testing: "(a JSON array of ShiftDefinition)" and nothing more).
    std::vector<std::string> names;
    for (int i = 0; i < field->message_type()->field_count(); ++i) {
      names.push_back(field->message_type()->field(i)->name());
    }
    json.help = absl::StrCat(flag.help.empty() ? "" : flag.help + " ",
                             field->is_repeated() ? "(a JSON array of " : "(JSON ",
                             field->message_type()->name(), " {", absl::StrJoin(names, ", "), "})");
    flags->push_back(std::move(json));
    if (!field->is_repeated() && depth < max_depth) {
      AddFlags(field->message_type(), flag.name + ".", flag.path, depth + 1, max_depth, flags);
    }
  }
}

MethodCommand CommandFor(const MethodDescriptor* method) {
  MethodCommand command;
  command.service_command = ServiceCommandName(method->service());
  command.name = KebabCase(method->name());
  command.grpc_path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
  command.method = method;
  command.comment = CommentOf(method);
  const contract::MethodContract declared = contract::MethodContractOf(method);
  command.roles = declared.RoleNames();
  command.any_authenticated = declared.any_authenticated;
  command.who_may_call = declared.WhoMayCall();
  command.retry_safe = declared.retry_safe();
  if (method->client_streaming() && method->server_streaming()) {
    command.kind = StreamKind::kBidiStreaming;
  } else if (method->client_streaming()) {
    command.kind = StreamKind::kClientStreaming;
  } else if (method->server_streaming()) {
    command.kind = StreamKind::kServerStreaming;
  }
  command.flags = FlagsFor(method->input_type());
  const contract::RequestIdField request_id = contract::RequestIdOf(method->input_type());
  command.request_id = request_id.field;
  command.request_id_parent = request_id.parent;
  command.request_file_chunk = contract::FileChunkFieldOf(method->input_type());
  command.response_file_chunk = contract::FileChunkFieldOf(method->output_type());
  return command;
}

}  // namespace

std::string KebabCase(absl::string_view camel_case) {
  std::string out;
  for (size_t i = 0; i < camel_case.size(); ++i) {
    char c = camel_case[i];
    bool upper = std::isupper(static_cast<unsigned char>(c));
    // A word starts at an upper-case letter after a lower-case one or a digit, or at
    // the last capital of an acronym ("HTTPServer" → "http-server").
    if (upper && i > 0) {
      char prev = camel_case[i - 1];
      bool next_lower =
          i + 1 < camel_case.size() && std::islower(static_cast<unsigned char>(camel_case[i + 1]));
      if (std::islower(static_cast<unsigned char>(prev)) ||
          std::isdigit(static_cast<unsigned char>(prev)) ||
          (std::isupper(static_cast<unsigned char>(prev)) && next_lower)) {
        out += '-';
      }
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<FlagSpec> FlagsFor(const Descriptor* request, int max_depth) {
  std::vector<FlagSpec> flags;
  AddFlags(request, "", {}, 1, max_depth, &flags);
  return flags;
}

std::string EnumValuePrefix(const google::protobuf::EnumDescriptor* type) {
  std::string prefix;
  const std::string& name = type->name();
  for (size_t i = 0; i < name.size(); ++i) {
    if (i > 0 && std::isupper(static_cast<unsigned char>(name[i])) &&
        !std::isupper(static_cast<unsigned char>(name[i - 1]))) {
      prefix += '_';
    }
    prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(name[i])));
  }
  return prefix + "_";
}

std::string ShortEnumName(const google::protobuf::EnumValueDescriptor* value) {
  absl::string_view name = value->name();
  absl::ConsumePrefix(&name, EnumValuePrefix(value->type()));
  return std::string(name);
}

std::string MethodCommand::RequestIdPath() const {
  if (request_id == nullptr) return "";
  if (request_id_parent == nullptr) return request_id->name();
  return absl::StrCat(request_id_parent->name(), ".", request_id->name());
}

std::string MethodCommand::Description() const {
  std::string text = comment;
  absl::StrAppend(&text, "\n\nRoles: ", who_may_call);
  absl::StrAppend(&text, "\nSafe to retry: ", retry_safe ? "yes (" : "no (",
                  MethodOptions::IdempotencyLevel_Name(method->options().idempotency_level()), ")");
  switch (kind) {
    case StreamKind::kUnary:
      break;
    case StreamKind::kServerStreaming:
      absl::StrAppend(&text, "\nStreams responses: each is printed as it arrives; Ctrl-C stops.");
      break;
    case StreamKind::kClientStreaming:
      absl::StrAppend(&text,
                      "\nStreams requests: the flags make the first message (if any are given), "
                      "then one JSON request per line is read from stdin.");
      break;
    case StreamKind::kBidiStreaming:
      absl::StrAppend(&text, "\nStreams both ways: JSON requests from stdin, responses printed.");
      break;
  }
  if (request_file_chunk != nullptr) {
    absl::StrAppend(&text,
                    "\n--from-file PATH sends the file in chunks after the first message "
                    "(its size and SHA-256 are filled in).");
  }
  if (response_file_chunk != nullptr) {
    absl::StrAppend(&text,
                    "\n--to-file PATH writes the received chunks to PATH and checks "
                    "their size and SHA-256.");
  }
  if (request_id != nullptr) {
    absl::StrAppend(&text, "\n--", RequestIdPath(), " left empty is filled with a random UUID.");
  }
  absl::StrAppend(&text, "\nRPC: ", method->full_name());
  return text;
}

absl::StatusOr<std::unique_ptr<ContractCatalog>> ContractCatalog::FromDescriptorSet(
    absl::string_view serialized) {
  std::unique_ptr<ContractCatalog> catalog(new ContractCatalog());
  absl::Status loaded = catalog->Load(serialized);
  if (!loaded.ok()) return loaded;
  return catalog;
}

absl::StatusOr<std::unique_ptr<ContractCatalog>> ContractCatalog::Embedded() {
  return FromDescriptorSet(absl::string_view(reinterpret_cast<const char*>(kEmbeddedDescriptorSet),
                                             kEmbeddedDescriptorSetSize));
}

absl::Status ContractCatalog::Load(absl::string_view serialized) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    return absl::InternalError("the embedded descriptor set does not parse");
  }
  // protoc writes files in dependency order, so each one's imports are already built.
  std::vector<const google::protobuf::FileDescriptor*> files;
  for (const google::protobuf::FileDescriptorProto& file : set.file()) {
    const google::protobuf::FileDescriptor* built = pool_.BuildFile(file);
    if (built == nullptr) {
      return absl::InternalError(absl::StrCat("cannot build descriptor of ", file.name()));
    }
    files.push_back(built);
  }
  factory_ = std::make_unique<google::protobuf::DynamicMessageFactory>(&pool_);
  for (const google::protobuf::FileDescriptor* file : files) {
    if (!absl::StartsWith(file->package(), "plantmesh.")) continue;
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      services_.push_back({ServiceCommandName(service), service->full_name(), CommentOf(service)});
      for (int m = 0; m < service->method_count(); ++m) {
        methods_.push_back(CommandFor(service->method(m)));
      }
    }
  }
  return absl::OkStatus();
}

const MethodCommand* ContractCatalog::Find(absl::string_view service,
                                           absl::string_view method) const {
  for (const MethodCommand& command : methods_) {
    if (command.service_command == service && command.name == method) return &command;
  }
  return nullptr;
}

std::unique_ptr<google::protobuf::Message> ContractCatalog::NewMessage(
    const Descriptor* type) const {
  return std::unique_ptr<google::protobuf::Message>(factory_->GetPrototype(type)->New());
}

}  // namespace plantmesh::cli
