// plantctl's `<service> <method>` subcommands, built on a CLI11 app from the catalog.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli/completion.h"
#include "cli/contract_catalog.h"
#include "google/protobuf/message.h"
#include "plantmesh/common/contract.h"

namespace plantmesh::cli {

// One method's subcommand and the options its command line filled.
struct MethodBinding {
  const MethodCommand* command = nullptr;
  CLI::App* app = nullptr;
  // A flag per request field the caller may set, in field order; output-only fields
  // (the contract's OUTPUT_ONLY, an IDENTIFIER outside an update) have none.
  std::vector<std::pair<const FlagSpec*, CLI::Option*>> flags;
  // The flags of fields the contract marks REQUIRED (listed first in --help, under
  // "Required request fields").
  std::set<const FlagSpec*> required;
  std::string request_json;
  std::string from_file;
  std::string to_file;
  bool all_pages = false;  // --all, on paged List methods (cli/list_pages.h)
  // --watch, offered on List methods of watchable resources (sdk::FindWatchableList).
  bool watch = false;
};

class CommandTree {
 public:
  // Adds a subcommand per service and, under it, one per method, to `root`, except the
  // methods a hand-written command stands for (`hand_written`: "service method" command
  // names, e.g. "planning import-demand").
  CommandTree(const ContractCatalog& catalog, CLI::App* root,
              const std::set<std::string>& hand_written = {});

  // The method subcommand the parsed command line chose, or nullptr.
  const MethodBinding* Selected() const;
  const std::vector<std::unique_ptr<MethodBinding>>& bindings() const { return bindings_; }

  // The request: --request-json first, then each given flag over it; an empty
  // request_id (at the root, or in a given singular message field such as a
  // stream's first-message `metadata`) is filled with a random UUID. INVALID_ARGUMENT
  // naming the flags (e.g. "missing required flags --defect.vin, --defect.zone") when a
  // field the contract marks REQUIRED is left unset, before any call is made; the fields
  // --from-file fills (size, SHA-256) are not asked for.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
      const MethodBinding& binding) const;
  // Whether any request field was given (--request-json or a field flag).
  static bool AnyRequestInput(const MethodBinding& binding);

  // For shell completion: the values of each enum flag, as plantctl accepts them
  // (lower case, without the enum's prefix; the zero value left out).
  CompletionValues EnumValues() const;

 private:
  static CLI::Option* AddFlagOption(const FlagSpec& flag, contract::FieldUse use, CLI::App* app);
  static absl::Status CheckRequiredFlags(const MethodBinding& binding,
                                         const google::protobuf::Message& request);
  // In an update, every field flag given is of a field --update_mask names (or of one that
  // names the resource): INVALID_ARGUMENT naming the flag otherwise.
  static absl::Status CheckMaskNamesGivenFlags(const MethodBinding& binding,
                                               const google::protobuf::Message& request);

  const ContractCatalog& catalog_;
  std::vector<std::unique_ptr<MethodBinding>> bindings_;
};

}  // namespace plantmesh::cli
