#include "cli/command_tree.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "cli/list_pages.h"
#include "cli/request_builder.h"
#include "plantmesh/common/uuid.h"

namespace plantmesh::cli {

CommandTree::CommandTree(const ContractCatalog& catalog, CLI::App* root) : catalog_(catalog) {
  std::set<std::string> service_commands;
  for (const ServiceCommand& service : catalog.services()) {
    // Two services of one package would share the command; the first one's comment wins.
    if (!service_commands.insert(service.name).second) continue;
    CLI::App* service_app = root->add_subcommand(service.name, service.comment);
    service_app->require_subcommand(1);
    service_app->group("Services (from the contracts)");
  }
  for (const MethodCommand& method : catalog.methods()) {
    auto binding = std::make_unique<MethodBinding>();
    binding->command = &method;
    CLI::App* service_app = root->get_subcommand(method.service_command);
    binding->app = service_app->add_subcommand(method.name, method.Description());
    for (const FlagSpec& flag : method.flags) {
      const std::string description = flag.help;
      CLI::Option* option = nullptr;
      if (flag.path.back()->type() == google::protobuf::FieldDescriptor::TYPE_BOOL &&
          !flag.repeated) {
        // --flag means true; --flag=false is accepted too.
        option = binding->app->add_flag("--" + flag.name, description);
      } else {
        option = binding->app->add_option("--" + flag.name, description);
        option->type_name(flag.type_name);
        if (flag.repeated) {
          option->expected(1, CLI::detail::expected_max_vector_size)->take_all();
          option->type_name(flag.type_name + " ...");
        } else {
          option->take_last();
        }
      }
      option->group("Request fields");
      binding->flags.emplace_back(&flag, option);
    }
    binding->app
        ->add_option("--request-json", binding->request_json,
                     "The whole request as JSON; flags given beside it override its fields")
        ->group("Request fields");
    if (IsPagedList(method.method)) {
      binding->app->add_flag("--all", binding->all_pages,
                             "Every page, printed as it arrives (progress on stderr when it is "
                             "a terminal). Without it: the one page, and when more follow, exit "
                             "code 3 and a last stderr line naming the next --page_token");
    }
    if (method.request_file_chunk != nullptr) {
      binding->app
          ->add_option("--from-file", binding->from_file,
                       "Send this file in chunks after the first message")
          ->check(CLI::ExistingFile);
    }
    if (method.response_file_chunk != nullptr) {
      binding->app->add_option("--to-file", binding->to_file,
                               "Write the received chunks to this file (checked: size, SHA-256)");
    }
    bindings_.push_back(std::move(binding));
  }
}

const MethodBinding* CommandTree::Selected() const {
  for (const auto& binding : bindings_) {
    if (binding->app->parsed()) return binding.get();
  }
  return nullptr;
}

bool CommandTree::AnyRequestInput(const MethodBinding& binding) {
  if (!binding.request_json.empty()) return true;
  for (const auto& [flag, option] : binding.flags) {
    if (option->count() > 0) return true;
  }
  return false;
}

namespace {

// A nested id is filled only where its message is present: creating it would set
// a oneof (a stream's `metadata` instead of its `chunk`) or change presence.
void FillEmptyRequestId(const MethodCommand& command, google::protobuf::Message* request) {
  if (command.request_id == nullptr) return;
  google::protobuf::Message* holder = request;
  if (command.request_id_parent != nullptr) {
    if (!request->GetReflection()->HasField(*request, command.request_id_parent)) return;
    holder = request->GetReflection()->MutableMessage(request, command.request_id_parent);
  }
  const google::protobuf::Reflection* reflection = holder->GetReflection();
  if (reflection->GetString(*holder, command.request_id).empty()) {
    reflection->SetString(holder, command.request_id, common::NewUuidV4());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> CommandTree::BuildRequest(
    const MethodBinding& binding) const {
  std::unique_ptr<google::protobuf::Message> request =
      catalog_.NewMessage(binding.command->method->input_type());
  if (!binding.request_json.empty()) {
    absl::Status merged = MergeJson(binding.request_json, request.get());
    if (!merged.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--request-json: ", merged.message()));
    }
  }
  for (const auto& [flag, option] : binding.flags) {
    if (option->count() == 0) continue;
    absl::Status applied = ApplyFlag(*flag, option->results(), request.get());
    if (!applied.ok()) return applied;
  }
  FillEmptyRequestId(*binding.command, request.get());
  return request;
}

}  // namespace plantmesh::cli
