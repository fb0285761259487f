#include "cli/command_tree.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cli/list_pages.h"
#include "cli/request_builder.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/common/uuid.h"
#include "plantmesh/sdk/dynamic_list_watch.h"

namespace plantmesh::cli {

namespace {

using contract::FieldUse;

bool SplitsOnCommas(const FlagSpec& flag) {
  // Strings and bytes may hold a comma themselves: those are given one per flag.
  return flag.repeated && flag.kind == FlagKind::kScalar &&
         flag.path.back()->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING;
}

// What --help adds to a field's comment: when it is required, and how to give several.
std::string FlagHelp(const FlagSpec& flag, FieldUse use) {
  std::string help = flag.help;
  if (use == FieldUse::kRequiredWithParent) {
    std::string parent;
    for (size_t i = 0; i + 1 < flag.path.size(); ++i) {
      absl::StrAppend(&parent, i == 0 ? "" : ".", flag.path[i]->name());
    }
    absl::StrAppend(&help, " Required when any --", parent, ".* flag is given.");
  } else if (use == FieldUse::kRequiredIfMasked) {
    absl::StrAppend(&help, " Required when --update_mask names it.");
  }
  if (SplitsOnCommas(flag)) {
    absl::StrAppend(&help, " Several: separate them with commas, or repeat the flag.");
  } else if (flag.repeated && flag.kind == FlagKind::kScalar) {
    absl::StrAppend(&help, " Several: repeat the flag.");
  }
  return help;
}

// "-" in a file flag (outside testing: `--to-file -` wrote a file named "-", where
// `telemetry ingest` and `import-demand` read "-" as standard input). `--from-file -` reads
// standard input, as a named pipe is read (once, into a temporary copy); `--to-file -` is
// refused, since standard output carries the answer.
std::string StandardInputForDash(std::string path) { return path == "-" ? "/dev/stdin" : path; }
std::string NoStandardOutput(const std::string& path) {
  if (path != "-") return "";
  return "'-' names no file here: standard output carries the answer; give a path";
}

}  // namespace

CommandTree::CommandTree(const ContractCatalog& catalog, CLI::App* root,
                         const std::set<std::string>& hand_written)
    : catalog_(catalog) {
  std::set<std::string> service_commands;
  for (const ServiceCommand& service : catalog.services()) {
    // Two services of one package would share the command; the first one's comment wins.
    if (!service_commands.insert(service.name).second) continue;
    CLI::App* service_app = root->add_subcommand(service.name, service.comment);
    service_app->require_subcommand(1);
    service_app->group("Services (from the contracts)");
  }
  for (const MethodCommand& method : catalog.methods()) {
    if (hand_written.count(absl::StrCat(method.service_command, " ", method.name)) > 0) continue;
    auto binding = std::make_unique<MethodBinding>();
    binding->command = &method;
    CLI::App* service_app = root->get_subcommand(method.service_command);
    binding->app = service_app->add_subcommand(method.name, method.Description());
    binding->app->group("Methods (from the contract)");
    const google::protobuf::Descriptor* request = method.method->input_type();
    // Required fields first in --help, under their own heading; output-only ones get no
    // flag (the server sets them). The flags keep field order for building the request,
    // so that a field's own flag overrides its message's --<field>-json.
    std::vector<std::pair<const FlagSpec*, FieldUse>> offered;
    for (const FlagSpec& flag : method.flags) {
      FieldUse use = contract::FieldUseIn(request, flag.path);
      if (use == FieldUse::kOutputOnly) continue;
      // A required message is given by its own flags as well: its JSON is one way. A
      // required list of messages has only its JSON flag, which is then required (outside
      // testing: --shift_pattern.shifts-json was listed among the optional fields).
      if (flag.kind == FlagKind::kJson && use == FieldUse::kRequired &&
          !flag.path.back()->is_repeated()) {
        use = FieldUse::kOptional;
      }
      // A request_id plantctl fills when empty is not the user's to give (outside testing:
      // --help listed it as required and then said it is filled).
      if (use == FieldUse::kRequired && flag.path.back() == method.request_id) {
        use = FieldUse::kOptional;
      }
      offered.emplace_back(&flag, use);
    }
    std::map<const FlagSpec*, CLI::Option*> options;
    for (const bool required_pass : {true, false}) {
      for (const auto& [flag, use] : offered) {
        if ((use == FieldUse::kRequired) != required_pass) continue;
        options[flag] = AddFlagOption(*flag, use, binding->app);
      }
    }
    for (const auto& [flag, use] : offered) {
      binding->flags.emplace_back(flag, options[flag]);
      if (use == FieldUse::kRequired) binding->required.insert(flag);
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
                       "Send this file in chunks after the first message (- for standard "
                       "input; one that cannot be read: exit 1, nothing sent)")
          ->transform(StandardInputForDash);
    }
    if (method.response_file_chunk != nullptr) {
      binding->app
          ->add_option("--to-file", binding->to_file,
                       "Write the received chunks to this file (checked: size, SHA-256; not -: "
                       "standard output carries the answer)")
          ->check(NoStandardOutput);
    }
    if (sdk::FindWatchableList(*method.method).ok()) {
      binding->app->add_flag(
          "--watch", binding->watch,
          "List every page, print the items, then keep printing each item that changes "
          "(from the list's watch_cursor, without a gap or a repeat; resumes after a "
          "server restart) until Ctrl-C");
    }
    bindings_.push_back(std::move(binding));
  }
}

CLI::Option* CommandTree::AddFlagOption(const FlagSpec& flag, FieldUse use, CLI::App* app) {
  const std::string description = FlagHelp(flag, use);
  CLI::Option* option = nullptr;
  if (flag.path.back()->type() == google::protobuf::FieldDescriptor::TYPE_BOOL && !flag.repeated) {
    // --flag means true; --flag=false is accepted too.
    option = app->add_flag("--" + flag.name, description);
  } else {
    option = app->add_option("--" + flag.name, description);
    option->type_name(flag.type_name);
    if (flag.repeated && flag.kind == FlagKind::kScalar) {
      // One value per flag (`--statuses a --statuses b`), all kept; commas split values
      // of types that cannot hold one (`--statuses a,b`).
      option->expected(1)->take_all();
      if (SplitsOnCommas(flag)) {
        option->delimiter(',');
        option->type_name(absl::StrCat(flag.type_name, "[,", flag.type_name, "...]"));
      }
    } else {
      // Outside testing: `--id 1 --id 2` silently asked for 2.
      option->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    }
  }
  option->group(use == FieldUse::kRequired ? "Required request fields" : "Request fields");
  return option;
}

const MethodBinding* CommandTree::Selected() const {
  for (const auto& binding : bindings_) {
    if (binding->app->parsed()) return binding.get();
  }
  return nullptr;
}

CompletionValues CommandTree::EnumValues() const {
  CompletionValues values;
  for (const auto& binding : bindings_) {
    for (const auto& [flag, option] : binding->flags) {
      const google::protobuf::FieldDescriptor* field = flag->path.back();
      if (flag->kind != FlagKind::kScalar || field->enum_type() == nullptr) continue;
      std::vector<std::string>& names = values[option];
      for (int i = 0; i < field->enum_type()->value_count(); ++i) {
        const google::protobuf::EnumValueDescriptor* value = field->enum_type()->value(i);
        if (value->number() != 0) names.push_back(absl::AsciiStrToLower(ShortEnumName(value)));
      }
    }
  }
  return values;
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

// The flag whose JSON holds the field at `path` ("plan.items" or "plan.items[0].sequence":
// --plan.items-json), else --request-json: a missing field is named where it is given
// (outside testing: "`shift_pattern.shifts` (in --request-json)" for a request built
// without --request-json, when the flag is --shift_pattern.shifts-json).
std::string JsonFlagHolding(const MethodBinding& binding, absl::string_view path) {
  std::string holder = "--request-json";
  size_t longest = 0;
  for (const auto& [flag, option] : binding.flags) {
    if (flag->kind != FlagKind::kJson) continue;
    absl::string_view field = flag->name;
    if (!absl::ConsumeSuffix(&field, "-json")) continue;
    const bool holds =
        path == field || (absl::StartsWith(path, field) && path.size() > field.size() &&
                          (path[field.size()] == '.' || path[field.size()] == '['));
    if (holds && field.size() > longest) {
      longest = field.size();
      holder = absl::StrCat("--", flag->name);
    }
  }
  return holder;
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
  if (absl::Status complete = CheckRequiredFlags(binding, *request); !complete.ok()) {
    return complete;
  }
  if (absl::Status named = CheckMaskNamesGivenFlags(binding, *request); !named.ok()) {
    return named;
  }
  return request;
}

absl::Status CommandTree::CheckMaskNamesGivenFlags(const MethodBinding& binding,
                                                   const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* mask_field =
      contract::UpdateMaskOf(request.GetDescriptor());
  if (mask_field == nullptr) return absl::OkStatus();
  const std::set<std::string> named = contract::FieldsTheMaskNames(request);
  for (const auto& [flag, option] : binding.flags) {
    if (option->count() == 0 || flag->path.size() < 2 || flag->path[0] == mask_field) continue;
    const google::protobuf::FieldDescriptor* field = flag->path[1];
    if (named.count(field->name()) > 0 ||
        contract::HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_IDENTIFIER) ||
        contract::HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_IMMUTABLE)) {
      continue;
    }
    // The server ignores what the mask does not name (AIP-134); a value typed for it
    // would be dropped unsaid (outside testing: --line.area with --update_mask
    // display_name exited 0 and changed nothing).
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag->name, " is given, but --update_mask does not name ", field->name(),
                     ": the server changes only the fields the mask names (add ", field->name(),
                     " to --update_mask, or leave the flag out)"));
  }
  return absl::OkStatus();
}

absl::Status CommandTree::CheckRequiredFlags(const MethodBinding& binding,
                                             const google::protobuf::Message& request) {
  // What --from-file fills in later (the file's size and SHA-256) is not missing.
  std::set<std::string> filled_later;
  if (!binding.from_file.empty() && binding.command->request_file_chunk != nullptr) {
    const api::v1::FileChunk& chunk = contract::FileChunkOf(binding.command->request_file_chunk);
    filled_later = {chunk.size_field(), chunk.sha256_field()};
  }
  std::vector<std::string> missing;
  for (const contract::MissingField& field : contract::MissingRequiredFields(request)) {
    if (filled_later.count(field.path) > 0) continue;
    bool has_flag = false;
    for (const auto& [flag, option] : binding.flags) {
      if (flag->name != field.path) continue;
      has_flag = true;
      // Given, but as the value proto3 cannot tell from absent (0, "", UNSPECIFIED):
      // "missing" would deny what the user typed (outside testing: --horizon_days 0).
      if (option->count() > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", field.path, " \"", absl::StrJoin(option->results(), ","),
                         "\": the field is required and this is its unset value, which the server "
                         "cannot tell from none; give another (see --help for ",
                         binding.command->service_command, " ", binding.command->name, ")"));
      }
    }
    const std::string json_flag = JsonFlagHolding(binding, field.path);
    std::string named = has_flag ? absl::StrCat("--", field.path)
                        : json_flag == absl::StrCat("--", field.path, "-json")
                            ? json_flag
                            : absl::StrCat("`", field.path, "` (in ", json_flag, ")");
    if (field.named_in_mask) absl::StrAppend(&named, " (--update_mask names it)");
    missing.push_back(std::move(named));
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "missing required ", missing.size() == 1 ? "flag " : "flags ", absl::StrJoin(missing, ", "),
      " for ", binding.command->service_command, " ", binding.command->name, " (see --help)"));
}

}  // namespace plantmesh::cli
