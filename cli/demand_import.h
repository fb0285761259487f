// `plantctl planning import-demand FILE|-`: daily demand history from a CSV file
// (format in cli/demand_file.h) or stdin, sent by PlanningService.ImportDemand in
// batches on one stream with one request_id. The server writes the whole import in one
// transaction when the stream ends: a bad record (found here, or by the server: an
// unknown product) stores nothing, unless --skip-invalid. A regular file is checked
// whole before anything is sent.
//
// On a terminal, stderr shows a progress bar; at the end stdout gets a summary
// (received, stored, replaced, rejected, seconds; one JSON object with -o json) and
// stderr the rejected records with their file line.
//
// Exit codes as plantctl's others: 0 everything stored; 1 the file cannot be read;
// 2 usage (bad flag, bad row); 13 (INVALID_ARGUMENT) the server refused records (with
// --skip-invalid: some were rejected, the rest stored); 10 + the code of another error
// (e.g. 17 PERMISSION_DENIED); 130 interrupted (Ctrl-C: nothing is stored).
#pragma once

#include <iosfwd>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/telemetry_ingest.h"

namespace plantmesh::cli {

class DemandImportCommand {
 public:
  // Adds `import-demand` under `root`'s `planning` command (made by CommandTree).
  explicit DemandImportCommand(CLI::App* root);

  bool Selected() const;
  bool DryRun() const { return dry_run_; }
  // Runs it with the environment of `telemetry ingest`; returns the exit code.
  int Run(const IngestRunEnvironment& env) const;

 private:
  CLI::App* command_ = nullptr;
  std::string file_;
  std::string request_id_;
  int batch_size_ = 5000;
  bool skip_invalid_ = false;
  bool dry_run_ = false;
};

}  // namespace plantmesh::cli
