// `plantctl telemetry ingest FILE|-`: samples from a CSV or JSON-lines file (format in
// cli/sample_file.h) or stdin, sent through the SDK's TelemetryBatchWriter (batches,
// re-sent after a broken connection, stored exactly once). A regular file is checked
// whole before anything is sent, so a bad row sends nothing; stdin is sent as it is
// read and stops at the first bad row (what came before it is sent and counted).
//
// On a terminal, stderr shows a progress bar; at the end stdout gets a summary (read,
// accepted, duplicates, rejected by reason, samples/s; one JSON object with -o json) and
// stderr the first rejected samples with their reasons.
//
// Exit codes as plantctl's others: 0 every sample stored (or recognised as stored
// before); 1 the file cannot be read; 2 usage (bad flag, bad row); 13
// (INVALID_ARGUMENT) some samples were rejected by the server; 10 + the code of the
// error that stopped the writer otherwise (e.g. 17 PERMISSION_DENIED, 24 UNAVAILABLE
// when no batch was acknowledged for --timeout seconds); 130 interrupted (Ctrl-C).
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "CLI/CLI.hpp"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::cli {

class SignalCanceller;

struct IngestRunEnvironment {
  sdk::ClientOptions options;
  // No acknowledgement for this long while samples wait: give up (--timeout).
  double stall_seconds = 10;
  bool json_summary = false;             // -o json
  bool progress = false;                 // stderr is a terminal
  SignalCanceller* canceller = nullptr;  // Ctrl-C stops reading and closes the writer
  std::istream* stdin_stream = nullptr;  // for FILE `-`
  std::ostream* out = nullptr;           // the summary
  std::ostream* err = nullptr;           // progress, notes, errors
};

class TelemetryIngestCommand {
 public:
  // Adds `ingest` under `root`'s `telemetry` command (made by CommandTree).
  explicit TelemetryIngestCommand(CLI::App* root);

  // Whether the parsed command line chose it.
  bool Selected() const;
  // Whether it needs no connection (--dry-run).
  bool DryRun() const { return dry_run_; }
  // Runs it; returns the exit code (see above).
  int Run(const IngestRunEnvironment& env) const;

 private:
  CLI::App* command_ = nullptr;
  std::string file_;
  std::string format_;
  std::string writer_id_;
  std::string import_id_;
  int batch_size_ = 500;
  bool dry_run_ = false;
};

}  // namespace plantmesh::cli
