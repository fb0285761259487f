// `plantctl pki init|issue|show`: the development CA from the command line.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace plantmesh::cli {

class PkiCommands {
 public:
  explicit PkiCommands(CLI::App* root);

  // Whether the parsed command line chose a pki command.
  bool Selected() const;
  // Runs it, printing what it did to `out`.
  absl::Status Run(std::ostream& out) const;

 private:
  absl::Status RunInit(std::ostream& out) const;
  absl::Status RunIssue(std::ostream& out) const;
  absl::Status RunShow(std::ostream& out) const;

  CLI::App* pki_ = nullptr;
  CLI::App* init_ = nullptr;
  CLI::App* issue_ = nullptr;
  CLI::App* show_ = nullptr;
  std::string dir_;
  std::string out_dir_;
  std::string trust_domain_;
  std::string name_;
  std::string kind_ = "user";
  std::vector<std::string> roles_;
  std::vector<std::string> dns_;
  std::vector<std::string> ips_;
  int days_ = 90;
  std::string bindings_;
  std::string show_file_;
};

}  // namespace plantmesh::cli
