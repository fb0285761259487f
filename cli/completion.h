// `plantctl completion bash|zsh`: a shell completion script made from plantctl's own command
// tree (CLI11 has no generator), so it covers what the contracts declare: services, methods,
// their flags and the enum values of those flags, plus plantctl's own commands and options.
//
// The script holds the tree as data (associative arrays keyed by command path) and one
// small function that walks the words typed so far. It completes subcommands, --flags
// (the command's and plantctl's global ones), and values: enum values (also after a comma,
// for `--statuses reported,in_<TAB>`), the choices of options such as -o, and file names
// for other options that take a value.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plantmesh::cli {

// The values offered after an option (e.g. a contract enum's values, lower case).
using CompletionValues = std::map<const CLI::Option*, std::vector<std::string>>;

// The completion script of `root`'s tree for `shell`, "bash" or "zsh"; INVALID_ARGUMENT
// naming the shells for anything else. Options whose CLI11 check lists choices (IsMember,
// shown as `TEXT:{a,b}`) offer those choices; `values` adds others.
absl::StatusOr<std::string> CompletionScript(CLI::App* root, absl::string_view shell,
                                             const CompletionValues& values);

class CompletionCommand {
 public:
  // Adds `completion` (with the shell as its argument) to `root`.
  explicit CompletionCommand(CLI::App* root);

  // Whether the parsed command line chose `completion`.
  bool Selected() const;
  // Writes the script for the chosen shell for the tree `root` holds now.
  absl::Status Run(const CompletionValues& values, std::ostream& out) const;

 private:
  CLI::App* root_ = nullptr;
  CLI::App* command_ = nullptr;
  std::string shell_;
};

}  // namespace plantmesh::cli
