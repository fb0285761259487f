#include "cli/demand_import.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/bad_rows.h"
#include "cli/demand_file.h"
#include "cli/exit_codes.h"
#include "cli/input_file.h"
#include "cli/number_check.h"
#include "cli/signal_canceller.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/uuid.h"
#include "plantmesh/planning/v1/planning_service.pm_client.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::cli {
namespace {

namespace pv1 = ::plantmesh::planning::v1;

constexpr int kRejectedRowsShown = 20;
constexpr absl::Duration kProgressRedrawInterval = absl::Milliseconds(100);

// One line on stderr, rewritten in place.
class Progress {
 public:
  Progress(std::ostream* err, int64_t total) : err_(err), total_(total) {}
  void Update(int64_t sent, bool force = false) {
    if (err_ == nullptr) return;
    const absl::Time now = absl::Now();
    if (!force && now - last_ < kProgressRedrawInterval) return;
    last_ = now;
    std::string line;
    if (total_ > 0) {
      constexpr int kWidth = 30;
      const double done = std::min(1.0, static_cast<double>(sent) / total_);
      const int filled = static_cast<int>(done * kWidth);
      line = absl::StrFormat("%3d%% [%s%s] ", static_cast<int>(done * 100),
                             std::string(filled, '#'), std::string(kWidth - filled, ' '));
    }
    absl::StrAppend(&line, sent, " records sent");
    *err_ << "\r" << line << "\x1b[K" << std::flush;
  }
  void Clear() {
    if (err_ != nullptr) *err_ << "\r\x1b[K" << std::flush;
  }

 private:
  std::ostream* err_;
  int64_t total_;
  absl::Time last_ = absl::InfinitePast();
};

// Rows of one product and day given again in the file: the import keeps the later one (a
// record replaces the same product and date), which an export of order lines (one row per
// order) does not mean. Each repeat is said, with the line it replaces (outside testing:
// two rows of 1,000 and 500 imported as 500, exit 0, and --dry-run called the file
// well-formed). Keys are hashed: 1,000,000 rows take about 32 MB.
class RepeatedDays {
 public:
  RepeatedDays(std::ostream& err, std::string source) : err_(err), source_(std::move(source)) {}
  void Note(const pv1::DemandRecord& record, int64_t line) {
    const size_t key = absl::HashOf(record.product_id(), record.date());
    auto [at, first] = first_line_.try_emplace(key, line);
    if (first) return;
    if (++repeats_ <= kRejectedRowsShown) {
      err_ << "plantctl: warning: " << source_ << ":" << line << ": " << record.product_id() << " "
           << record.date() << " again (line " << at->second
           << "): the later row replaces the earlier, quantities are not added\n";
    }
  }
  // After the last row: how many repeats were not shown.
  void Finish() const {
    if (repeats_ > kRejectedRowsShown) {
      err_ << "plantctl: warning: " << repeats_ - kRejectedRowsShown
           << " more rows repeat a product and day of " << source_ << "\n";
    }
  }

 private:
  std::ostream& err_;
  std::string source_;
  absl::flat_hash_map<size_t, int64_t> first_line_;
  int64_t repeats_ = 0;
};

// `records[12].quantity` → {12, "quantity"}; nullopt for other fields.
std::optional<std::pair<int64_t, std::string>> RecordField(const std::string& field) {
  constexpr absl::string_view kPrefix = "records[";
  if (!absl::StartsWith(field, kPrefix)) return std::nullopt;
  const size_t close = field.find(']');
  int64_t index = 0;
  if (close == std::string::npos ||
      !absl::SimpleAtoi(field.substr(kPrefix.size(), close - kPrefix.size()), &index)) {
    return std::nullopt;
  }
  const std::string rest = close + 2 <= field.size() ? field.substr(close + 2) : "";
  return std::make_pair(index, rest);
}

}  // namespace

DemandImportCommand::DemandImportCommand(CLI::App* root) {
  CLI::App* planning = root->get_subcommand("planning");
  command_ = planning->add_subcommand(
      "import-demand",
      "Import daily demand history from a CSV file (or - for stdin) with the header "
      "product_id,date,quantity (date YYYY-MM-DD, quantity a decimal number 0-1000000000 in the "
      "product's unit), on one "
      "ImportDemand stream: stored in one transaction when the file ends, a record replacing "
      "the same product and date, so importing a file again is harmless (two rows of one "
      "product and day in the file: the later is kept, with a warning naming both lines). At "
      "most 1000000 records an import. A row plantctl cannot read (a bad date or quantity) "
      "stores nothing, exit 2; one the server refuses stores nothing unless --skip-invalid. A "
      "progress bar on a terminal, a summary at the end.");
  command_->group("Commands (hand-written)");
  command_->add_option("FILE", file_, "The CSV file, or - for stdin")->required();
  command_->add_option("--request-id", request_id_,
                       "The import's request_id; default a random UUID (a retry of the same "
                       "file with the same id returns the first answer)");
  command_->add_option("--batch-size", batch_size_, "Records per stream message, 1-10000")
      ->check(WholeNumberFrom(1, 10000))
      ->capture_default_str();
  command_->add_flag("--skip-invalid", skip_invalid_,
                     "Store the valid records and report the records the server refuses "
                     "(unknown product) instead of storing nothing");
  command_->add_flag("--dry-run", dry_run_,
                     "Only check the file (every row), send nothing; needs no connection");
}

bool DemandImportCommand::Selected() const { return command_->parsed(); }

int DemandImportCommand::Run(const IngestRunEnvironment& env) const {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  const bool from_stdin = file_ == "-";
  const std::string source = from_stdin ? "stdin" : file_;
  std::unique_ptr<std::istream> owned;
  std::istream* in = env.stdin_stream;
  // Opens the file, or says why it cannot be read.
  auto open = [&]() -> bool {
    absl::StatusOr<std::unique_ptr<std::ifstream>> file = OpenInputFile(file_);
    if (!file.ok()) {
      err << "plantctl: " << file.status().message() << "\n";
      return false;
    }
    owned = *std::move(file);
    in = owned.get();
    return true;
  };
  if (!from_stdin && !open()) return kExitLocalFailure;

  // A file is checked whole first: a bad row sends nothing. stdin is read once, as sent
  // (the server stores nothing if a later row is bad: the stream is cancelled).
  int64_t total = 0;
  if (!from_stdin || dry_run_) {
    DemandReader checker(in, source);
    pv1::DemandRecord record;
    RepeatedDays repeats(err, source);
    BadRows bad(&err, source);
    while (true) {
      absl::StatusOr<bool> next = checker.Next(&record);
      if (!next.ok() && checker.row_error()) {
        bad.Add(next.status());
        continue;
      }
      if (!next.ok()) {
        err << "plantctl: " << next.status().message() << "\n";
        return kExitUsage;
      }
      if (!*next) break;
      repeats.Note(record, checker.line());
      if (++total > kMaxDemandRecords) {
        err << "plantctl: " << source << ":" << checker.line() << ": more than "
            << kMaxDemandRecords << " records, the most one import takes: split the file\n";
        return kExitUsage;
      }
    }
    repeats.Finish();
    if (bad.count() > 0) {
      bad.Summarize();
      return kExitUsage;
    }
    if (dry_run_) {
      out << total << " demand records in " << source << " are well-formed\n";
      return 0;
    }
    if (!open()) return kExitLocalFailure;
  }

  absl::StatusOr<sdk::PlanningClient> client = sdk::PlanningClient::Connect(env.options);
  if (!client.ok()) {
    err << "plantctl: " << sdk::DescribeStatus(client.status()) << "\n";
    return client.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitStatusBase + static_cast<int>(client.status().code());
  }
  // No deadline: a stream has none by default, and Ctrl-C cancels it.
  auto stream = client->ImportDemand();
  std::atomic<bool> interrupted{false};
  if (env.canceller != nullptr) {
    env.canceller->SetStopper([&interrupted, &stream] {
      interrupted = true;
      stream->Cancel();
    });
    if (from_stdin) env.canceller->SetBlockingReader(true);
  }

  const absl::Time start = absl::Now();
  Progress progress(env.progress ? &err : nullptr, total);
  DemandReader reader(in, source);
  std::vector<int64_t> lines;  // file line of each record sent, by index
  pv1::ImportDemandRequest message;
  const std::string request_id = request_id_.empty() ? common::NewUuidV4() : request_id_;
  message.set_request_id(request_id);
  message.set_skip_invalid_records(skip_invalid_);
  int64_t sent = 0;
  bool broken = false;
  absl::Status local;  // a bad row on stdin
  auto flush = [&] {
    if (broken || !stream->Write(message)) broken = true;
    sent += message.records_size();
    message.Clear();
    progress.Update(sent);
  };
  // stdin is read once: its repeats are said as it is sent (a file's were, when checked).
  std::optional<RepeatedDays> repeats;
  if (from_stdin) repeats.emplace(err, source);
  while (!broken && !interrupted) {
    absl::StatusOr<bool> next = reader.Next(message.add_records());
    if (!next.ok()) {
      local = next.status();
      break;
    }
    if (!*next) {
      message.mutable_records()->RemoveLast();
      break;
    }
    lines.push_back(reader.line());
    if (repeats) repeats->Note(message.records(message.records_size() - 1), reader.line());
    if (message.records_size() >= batch_size_) flush();
  }
  if (!local.ok() || interrupted) {
    if (env.canceller != nullptr) {
      env.canceller->SetBlockingReader(false);
      env.canceller->SetStopper(nullptr);
    }
    stream->Cancel();
    (void)stream->Finish();
    progress.Clear();
    if (interrupted) {
      err << "plantctl: interrupted; nothing was stored\n";
      return kExitInterrupted;
    }
    err << "plantctl: " << local.message() << "; nothing was stored\n";
    return kExitUsage;
  }
  // The last message (with the last records or none) ends the import: without the mark
  // the server writes nothing.
  message.set_end_of_import(true);
  flush();
  if (repeats) repeats->Finish();
  absl::StatusOr<pv1::ImportDemandResponse> response = stream->Finish();
  if (env.canceller != nullptr) {
    env.canceller->SetBlockingReader(false);
    env.canceller->SetStopper(nullptr);
  }
  progress.Update(sent, /*force=*/true);
  progress.Clear();
  auto line_of = [&](int64_t index) -> std::string {
    return index >= 0 && index < static_cast<int64_t>(lines.size())
               ? absl::StrCat(source, ":", lines[index])
               : absl::StrCat(source, ": record ", index);
  };
  if (!response.ok() && interrupted) {
    // Ctrl-C after the end mark: the server may have committed before it saw the cancel
    // (outside testing: this exited 11 "CANCELLED: CANCELLED", and the import was stored).
    err << "plantctl: interrupted after the whole file was sent: the import may have been "
           "stored; to retry it without storing it twice, rerun the same command with\n"
           "  --request-id "
        << request_id << "\n";
    return kExitInterrupted;
  }
  if (!response.ok()) {
    bool named = false;
    for (const sdk::FieldViolationView& v : sdk::FieldViolations(response.status())) {
      if (auto record = RecordField(v.field)) {
        err << "plantctl: " << line_of(record->first) << ": " << record->second << ": "
            << v.description << "\n";
        named = true;
      }
    }
    if (!named) err << "plantctl: " << sdk::DescribeStatus(response.status()) << "\n";
    if (OutcomeUnknown(response.status().code())) {
      // The import is one transaction at the stream's end, which may have committed.
      err << "plantctl: the import may have been stored before the call failed; to retry it "
             "without storing it twice, rerun the same command with\n  --request-id "
          << request_id << "\n";
    } else {
      err << "plantctl: nothing was stored\n";
    }
    return kExitStatusBase + static_cast<int>(response.status().code());
  }
  // The server answers for the records it received: fewer than were sent means part of
  // the stream was lost on the way and stored as if whole (outside testing: a gRPC retry
  // of the stream delivered a prefix), which must never read as success.
  if (response->records_received() != sent) {
    err << "plantctl: the server received " << response->records_received() << " of the " << sent
        << " records sent (request_id " << request_id
        << "); import the file again with a new request_id\n";
    return kExitStatusBase + static_cast<int>(absl::StatusCode::kDataLoss);
  }
  const double seconds = std::max(absl::ToDoubleSeconds(absl::Now() - start), 1e-6);
  if (env.json_summary) {
    out << nlohmann::json{{"source", source},
                          {"received", response->records_received()},
                          {"stored", response->records_stored()},
                          {"replaced", response->records_replaced()},
                          {"rejected", response->records_rejected()},
                          {"seconds", seconds}}
               .dump()
        << "\n";
  } else {
    out << "received  " << response->records_received() << " records from " << source << "\n"
        << "stored    " << response->records_stored() << "\n"
        << "replaced  " << response->records_replaced() << "\n"
        << "rejected  " << response->records_rejected() << "\n"
        << absl::StrFormat("%.1f s\n", seconds);
  }
  int shown = 0;
  for (const pv1::DemandRecordReject& r : response->rejects()) {
    if (++shown > kRejectedRowsShown) break;
    err << line_of(r.index()) << ": " << r.field() << ": " << r.reason() << "\n";
  }
  return response->records_rejected() > 0
             ? kExitStatusBase + static_cast<int>(absl::StatusCode::kInvalidArgument)
             : 0;
}

}  // namespace plantmesh::cli
