// plantctl's `<service> <method>` subcommands, built on a CLI11 app from the catalog.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli/contract_catalog.h"
#include "google/protobuf/message.h"

namespace plantmesh::cli {

// One method's subcommand and the options its command line filled.
struct MethodBinding {
  const MethodCommand* command = nullptr;
  CLI::App* app = nullptr;
  std::vector<std::pair<const FlagSpec*, CLI::Option*>> flags;
  std::string request_json;
  std::string from_file;
  std::string to_file;
  bool all_pages = false;  // --all, on paged List methods (cli/list_pages.h)
};

class CommandTree {
 public:
  // Adds a subcommand per service and, under it, one per method, to `root`.
  CommandTree(const ContractCatalog& catalog, CLI::App* root);

  // The method subcommand the parsed command line chose, or nullptr.
  const MethodBinding* Selected() const;
  const std::vector<std::unique_ptr<MethodBinding>>& bindings() const { return bindings_; }

  // The request: --request-json first, then each given flag over it; an empty
  // request_id (at the root, or in a given singular message field such as a
  // stream's first-message `metadata`) is filled with a random UUID.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
      const MethodBinding& binding) const;
  // Whether any request field was given (--request-json or a field flag).
  static bool AnyRequestInput(const MethodBinding& binding);

 private:
  const ContractCatalog& catalog_;
  std::vector<std::unique_ptr<MethodBinding>> bindings_;
};

}  // namespace plantmesh::cli
