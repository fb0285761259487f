#include "cli/telemetry_ingest.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/bad_rows.h"
#include "cli/decimal_number.h"
#include "cli/exit_codes.h"
#include "cli/input_file.h"
#include "cli/number_check.h"
#include "cli/sample_file.h"
#include "cli/signal_canceller.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/uuid.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/sdk/telemetry_batch_writer.h"

namespace plantmesh::cli {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;

constexpr int kRejectsShown = 20;
constexpr absl::Duration kProgressInterval = absl::Milliseconds(100);
constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);

// 1234567 -> "1,234,567".
std::string Grouped(int64_t value) {
  std::string digits = absl::StrCat(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return value < 0 ? "-" + out : out;
}

// "REJECT_REASON_UNKNOWN_MACHINE" -> "unknown_machine".
// A rejected sample's value as its line is told: the value, quoted when text (outside
// testing: the sample's JSON was quoted, its ids and time taking the 80 characters, so
// "abc", "1,5" and " 12.5 " all read the same and the value never showed).
std::string ValueForMessage(const tv1::Sample& sample) {
  switch (sample.value_case()) {
    case tv1::Sample::kNumber:
      return ExactDecimal(sample.number());  // the fewest digits (re-test: 2.1000000000000001)
    case tv1::Sample::kText:
      return QuoteInput(sample.text());
    case tv1::Sample::kCondition: {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(sample.condition(), &json);
      return json.size() <= kQuotedInputChars ? json : QuoteInput(json);
    }
    case tv1::Sample::kUnavailable:
      return "UNAVAILABLE";
    case tv1::Sample::kWritten:  // quoted as the file has it (re-test: `0012` told as 12)
      return QuoteInput(sample.written());
    default:
      return "(none)";
  }
}

std::string ReasonName(tv1::RejectReason reason) {
  std::string name = tv1::RejectReason_Name(reason);
  constexpr absl::string_view kPrefix = "REJECT_REASON_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return absl::AsciiStrToLower(name);
}

// --import-id: what a writer id may hold past its prefix, and short enough for it.
CLI::Validator ImportIdCheck() {
  return CLI::Validator(
      [](std::string& id) -> std::string {
        const bool allowed =
            !id.empty() && id.size() <= 100 && std::all_of(id.begin(), id.end(), [](char c) {
              return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                     c == '-' || c == ':';
            });
        if (allowed) return "";
        return absl::StrCat(QuoteInput(id),
                            ": 1-100 characters: letters, digits, '.', '_', '-', ':'");
      },
      "ID");
}

std::string ImportWriterId(const std::string& import_id) {
  return absl::StrCat("plantctl-import-", import_id);
}

std::string DefaultWriterId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "%s", "host");
  }
  // Unique per run: two ingests at once must not share a writer's sequence watermark.
  return absl::StrCat("plantctl-", std::string(host).substr(0, 64), "-",
                      common::NewUuidV4().substr(0, 8));
}

// One line on stderr, rewritten in place; at most every kProgressInterval.
class ProgressBar {
 public:
  ProgressBar(std::ostream* err, int64_t total_samples)
      : err_(err), total_(total_samples), start_(absl::Now()) {}

  void Update(int64_t read, const sdk::TelemetryBatchWriterStats& stats, bool force = false) {
    if (err_ == nullptr) return;
    const absl::Time now = absl::Now();
    if (!force && now - last_ < kProgressInterval) return;
    last_ = now;
    const int64_t acknowledged = stats.samples_acknowledged();
    const double seconds = absl::ToDoubleSeconds(now - start_);
    const int64_t rate = seconds > 0 ? static_cast<int64_t>(acknowledged / seconds) : 0;
    std::string line;
    if (total_ > 0) {
      constexpr int kWidth = 30;
      const double done = std::min(1.0, static_cast<double>(acknowledged) / total_);
      const int filled = static_cast<int>(done * kWidth);
      line = absl::StrFormat("%3d%% [%s%s] ", static_cast<int>(done * 100),
                             std::string(filled, '#'), std::string(kWidth - filled, ' '));
    }
    absl::StrAppend(&line, Grouped(read), " read, ", Grouped(acknowledged), " acknowledged, ",
                    Grouped(rate), "/s");
    if (stats.buffered_samples > 0 && !stats.last_stream_error.empty() &&
        stats.samples_acknowledged() == last_acknowledged_) {
      absl::StrAppend(&line, " (reconnecting)");
    }
    last_acknowledged_ = acknowledged;
    // \r and "erase to end of line" so that a shorter line leaves nothing behind.
    *err_ << "\r" << line << "\x1b[K" << std::flush;
  }

  // The check before the call, by bytes (outside testing: 8 s of silence per million
  // JSON lines before the bar began).
  void Checking(const std::string& source, int64_t bytes_read, int64_t file_bytes,
                int64_t samples) {
    if (err_ == nullptr) return;
    const absl::Time now = absl::Now();
    if (now - last_ < kProgressInterval) return;
    last_ = now;
    std::string line = absl::StrCat("checking ", source, ": ", Grouped(samples), " samples");
    if (file_bytes > 0) {
      absl::StrAppend(&line, ", ", std::min<int64_t>(100, bytes_read * 100 / file_bytes), "%");
    }
    *err_ << "\r" << line << "\x1b[K" << std::flush;
  }

  void Clear() {
    if (err_ != nullptr) *err_ << "\r\x1b[K" << std::flush;
  }

 private:
  std::ostream* err_;
  int64_t total_;
  absl::Time start_;
  absl::Time last_ = absl::InfinitePast();
  int64_t last_acknowledged_ = -1;
};

// Gives up when samples wait and nothing was acknowledged for `limit`.
class StallWatch {
 public:
  explicit StallWatch(absl::Duration limit) : limit_(limit), since_(absl::Now()) {}

  absl::Status Check(const sdk::TelemetryBatchWriterStats& stats) {
    const absl::Time now = absl::Now();
    if (stats.samples_acknowledged() != acknowledged_ || stats.buffered_samples == 0) {
      acknowledged_ = stats.samples_acknowledged();
      since_ = now;
      return absl::OkStatus();
    }
    if (now - since_ < limit_) return absl::OkStatus();
    const std::string message = absl::StrCat(
        "no batch acknowledged for ", absl::FormatDuration(limit_), " (--timeout); ",
        Grouped(stats.buffered_samples), " samples not sent or not acknowledged",
        stats.last_stream_error.empty() ? std::string()
                                        : absl::StrCat("; last error: ", stats.last_stream_error));
    return stats.last_stream_error.empty() ? absl::DeadlineExceededError(message)
                                           : absl::UnavailableError(message);
  }

 private:
  absl::Duration limit_;
  absl::Time since_;
  int64_t acknowledged_ = -1;
};

// The rejected samples to show (the first kRejectsShown).
struct RejectLog {
  std::mutex mutex;
  std::vector<sdk::RejectedSampleReport> shown;
};

// The input line of each sample added, by its place among them (RejectedSampleReport::
// added_index), so that a rejected sample is named by its line, not by its place in a
// batch (outside testing: "samples[99]" for line 1,101). Kept as the places where the
// line stops being the place plus a constant (after a header or a blank line).
class AddedLines {
 public:
  void Add(int64_t line) {
    if (steps_.empty() || line - added_ != steps_.back().second - steps_.back().first) {
      steps_.emplace_back(added_, line);
    }
    ++added_;
  }
  int64_t LineOf(int64_t added_index) const {
    auto step = std::upper_bound(steps_.begin(), steps_.end(),
                                 std::make_pair(added_index, std::numeric_limits<int64_t>::max()));
    if (step == steps_.begin()) return 0;
    --step;
    return step->second + (added_index - step->first);
  }

 private:
  int64_t added_ = 0;
  std::vector<std::pair<int64_t, int64_t>> steps_;  // (place, line) where a run starts
};

// The server's words without the place in the batch ("samples[99].text: ..." is
// "text: ...": the line says which sample).
absl::string_view WithoutBatchPlace(absl::string_view message) {
  if (!absl::StartsWith(message, "samples[")) return message;
  const size_t end = message.find("].");
  return end == absl::string_view::npos ? message : message.substr(end + 2);
}

void PrintSummary(const std::string& source, int64_t read, const sdk::TelemetryBatchWriterStats& s,
                  absl::Duration elapsed, bool json, std::ostream& out) {
  const double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-6);
  const int64_t rate = static_cast<int64_t>(s.samples_acknowledged() / seconds);
  if (json) {
    nlohmann::json summary = {
        {"source", source},
        {"read", read},
        {"accepted", s.samples_accepted},
        {"duplicates", s.samples_duplicate},
        {"rejected", s.samples_rejected},
        {"rejected_by_reason", nlohmann::json::object()},
        {"late_for_state", s.samples_late_for_state},
        {"not_acknowledged", s.samples_abandoned + s.buffered_samples},
        {"seconds", seconds},
        {"samples_per_second", rate},
        {"batches", s.batches_acknowledged},
        {"reconnects", s.reconnects},
    };
    for (const auto& [reason, count] : s.rejected_by_reason) {
      summary["rejected_by_reason"][ReasonName(reason)] = count;
    }
    out << summary.dump() << "\n";
    return;
  }
  out << "read        " << Grouped(read) << " samples from " << source << "\n"
      << "accepted    " << Grouped(s.samples_accepted) << "\n"
      << "duplicates  " << Grouped(s.samples_duplicate) << "\n"
      << "rejected    " << Grouped(s.samples_rejected) << "\n";
  for (const auto& [reason, count] : s.rejected_by_reason) {
    out << "  " << ReasonName(reason) << "  " << Grouped(count) << "\n";
  }
  // Stored, but older than their machine's state timeline: not in it at their own time.
  if (s.samples_late_for_state > 0) {
    out << "late for machine states  " << Grouped(s.samples_late_for_state)
        << " (stored; the state timeline had passed their time: see the README, machine "
           "states)\n";
  }
  const int64_t missing = s.samples_abandoned + s.buffered_samples;
  if (missing > 0) out << "not acknowledged  " << Grouped(missing) << "\n";
  out << absl::StrFormat("%.1f s, %s samples/s, %s %s, %s %s\n", seconds, Grouped(rate),
                         Grouped(s.batches_acknowledged),
                         s.batches_acknowledged == 1 ? "batch" : "batches", Grouped(s.reconnects),
                         s.reconnects == 1 ? "reconnect" : "reconnects");
}

// Whether `sample` fits a batch (the SDK refuses a larger one, and no server takes a
// message that large): INVALID_ARGUMENT naming its line otherwise (outside testing: one
// 5 MB row passed --dry-run, then waited out the timeout and exited 24, on every retry).
absl::StatusOr<bool> FitsABatch(const tv1::Sample& sample, const std::string& source,
                                int64_t line) {
  const int64_t limit = sdk::TelemetryBatchWriterOptions{}.max_batch_bytes;
  const auto bytes = static_cast<int64_t>(sample.ByteSizeLong());
  if (bytes <= limit) return true;
  return absl::InvalidArgumentError(absl::StrCat(source, ":", line, ": the sample is ", bytes,
                                                 " bytes, more than a batch carries (", limit,
                                                 "): is a value a whole file?"));
}

}  // namespace

TelemetryIngestCommand::TelemetryIngestCommand(CLI::App* root) {
  CLI::App* telemetry = root->get_subcommand("telemetry");
  command_ = telemetry->add_subcommand(
      "ingest",
      "Send samples from a CSV or JSON-lines file (or - for stdin) through the SDK's batch "
      "writer: batches of --batch-size, re-sent after a broken connection and stored exactly "
      "once; a progress bar on a terminal and a summary at the end. CSV: a header "
      "machine_id,data_item_id,time,value[,kind][,source_sequence]; time RFC 3339; kind "
      "number|text|condition|unavailable (empty: the server reads the value by the data "
      "item's category: an EVENT's text as written, a CONDITION's a condition, a SAMPLE's a "
      "number; UNAVAILABLE in any case is unavailable); a condition value is "
      "LEVEL[:NATIVE_CODE[:MESSAGE]] or "
      "unavailable. JSON lines: one Sample per line (proto JSON). A file is checked whole "
      "before anything is sent.");
  command_->group("Commands (hand-written)");
  command_->add_option("FILE", file_, "The file, or - for stdin")->required();
  command_
      ->add_option("--format", format_,
                   "csv or jsonl (also: ndjson, json); default: by the extension (.csv, "
                   ".jsonl/.ndjson/.json), "
                   "else by the first character ({: jsonl)")
      ->check(CLI::IsMember({"csv", "jsonl", "ndjson", "json"}));
  CLI::Option* writer_id =
      command_->add_option("--writer-id", writer_id_,
                           "The writer's id for the server's batch dedup; default "
                           "plantctl-<host>-<random>, unique per run (running the same file "
                           "twice stores it twice; --import-id does not)");
  command_
      ->add_option("--import-id", import_id_,
                   "Makes the ingest repeatable: the same input sent again under the same "
                   "id (after a failure, Ctrl-C, or by mistake) stores only what the server "
                   "does not hold yet, the rest counted as duplicates. Batches are cut by "
                   "--batch-size and size only and numbered from 1 under writer "
                   "plantctl-import-<ID>. One id per input: other samples under it are "
                   "refused (exit 16); after [telemetry] batch-record-hours (24) a repeat is "
                   "refused (exit 19), never stored twice. 1-100 characters: letters, digits, "
                   "'.', '_', '-', ':'")
      ->check(ImportIdCheck())
      ->excludes(writer_id);
  command_->add_option("--batch-size", batch_size_, "Samples per batch, 1-10000")
      ->check(WholeNumberFrom(1, 10000))
      ->capture_default_str();
  command_->add_flag("--dry-run", dry_run_,
                     "Only check the file (every row), send nothing; needs no connection");
}

bool TelemetryIngestCommand::Selected() const { return command_->parsed(); }

int TelemetryIngestCommand::Run(const IngestRunEnvironment& env) const {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  const bool from_stdin = file_ == "-";
  const std::string source = from_stdin ? "stdin" : file_;

  // The file, or nullptr having said why it cannot be read.
  auto open = [&]() -> std::unique_ptr<std::istream> {
    absl::StatusOr<std::unique_ptr<std::ifstream>> file = OpenInputFile(file_);
    if (!file.ok()) {
      err << "plantctl: " << file.status().message() << "\n";
      return nullptr;
    }
    return *std::move(file);
  };
  std::unique_ptr<std::istream> owned;
  std::istream* in = env.stdin_stream;
  if (!from_stdin) {
    owned = open();
    if (owned == nullptr) return kExitLocalFailure;
    in = owned.get();
  }
  SampleFileFormat format = SampleFileFormat::kCsv;
  if (!format_.empty()) {
    format = *ParseSampleFileFormat(format_);  // CLI11 checked the name
  } else {
    // Guessed from the first character after a UTF-8 byte order mark (Windows Notepad's
    // "UTF-8 with BOM"): outside testing, JSON lines with one were read as CSV from stdin
    // or a file of another extension. The readers skip the mark themselves, so it is taken.
    static constexpr char kMark[] = "\xEF\xBB\xBF";
    int taken = 0;
    while (taken < 3 && in->peek() == static_cast<unsigned char>(kMark[taken])) {
      in->get();
      ++taken;
    }
    for (; taken > 0 && taken < 3; --taken) in->unget();  // not a mark: left unread
    const int first = in->peek();
    format = GuessSampleFileFormat(from_stdin ? "" : file_,
                                   first == EOF ? "" : std::string(1, static_cast<char>(first)));
  }

  // A file is checked whole first: a bad row sends nothing.
  int64_t total = 0;
  if (!from_stdin || dry_run_) {
    SampleReader checker(in, source, format);
    tv1::Sample sample;
    ProgressBar checking(env.progress ? &err : nullptr, 0);
    std::error_code no_size;
    const auto file_bytes =
        from_stdin ? 0 : static_cast<int64_t>(std::filesystem::file_size(file_, no_size));
    BadRows bad(&err, source);
    while (true) {
      checking.Checking(source, checker.bytes_read(), no_size ? 0 : file_bytes, total);
      absl::StatusOr<bool> next = checker.Next(&sample);
      // A bad row (or one too big for a batch) is said, and the check goes on.
      const bool row = next.ok() ? *next : checker.row_error();
      if (next.ok() && *next) next = FitsABatch(sample, source, checker.line());
      if (!next.ok() && row) {
        checking.Clear();
        bad.Add(next.status());
        continue;
      }
      if (!next.ok()) {
        checking.Clear();
        err << "plantctl: " << next.status().message() << "\n";
        return next.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                          : kExitLocalFailure;
      }
      if (!*next) break;
      ++total;
    }
    checking.Clear();
    if (bad.count() > 0) {
      bad.Summarize();
      return kExitUsage;
    }
    if (dry_run_) {
      out << Grouped(total) << " samples in " << source << " are well-formed ("
          << (format == SampleFileFormat::kCsv ? "CSV" : "JSON lines") << ")\n";
      return 0;
    }
    owned = open();
    if (owned == nullptr) return kExitLocalFailure;
    in = owned.get();
  }

  auto rejects = std::make_shared<RejectLog>();
  sdk::TelemetryBatchWriterOptions options;
  options.writer_id = writer_id_.empty() ? DefaultWriterId() : writer_id_;
  options.max_batch_samples = batch_size_;
  if (!import_id_.empty()) {
    // The same input gives the same batches under the same sequences: no cut by time.
    options.writer_id = ImportWriterId(import_id_);
    options.first_batch_sequence = 1;
    options.exact_first_batch_sequence = true;
    options.linger = absl::InfiniteDuration();
  }
  options.when_full = sdk::TelemetryBatchWriterOptions::WhenFull::kBlock;
  options.block_timeout = kWaitSlice;  // to update the progress and notice Ctrl-C
  options.on_rejected = [rejects](const sdk::RejectedSampleReport& report) {
    std::lock_guard<std::mutex> lock(rejects->mutex);
    if (rejects->shown.size() < kRejectsShown) rejects->shown.push_back(report);
  };
  absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> created =
      sdk::TelemetryBatchWriter::Create(env.options, options);
  if (!created.ok()) {
    err << "plantctl: " << sdk::DescribeStatus(created.status()) << "\n";
    return created.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitStatusBase + static_cast<int>(created.status().code());
  }
  sdk::TelemetryBatchWriter& writer = **created;

  std::atomic<bool> interrupted{false};
  if (env.canceller != nullptr) env.canceller->SetStopper([&interrupted] { interrupted = true; });
  if (env.canceller != nullptr && from_stdin) env.canceller->SetBlockingReader(true);
  ProgressBar progress(env.progress ? &err : nullptr, total);
  StallWatch stall(absl::Seconds(env.stall_seconds));
  const absl::Time start = absl::Now();

  absl::Status failure;  // what stopped the ingest, if anything
  int64_t read = 0;
  SampleReader reader(in, source, format);
  tv1::Sample sample;
  absl::Status bad_row;  // stdin: reading stops there, what came before is still sent
  bool grew = false;     // the file held more than was checked
  AddedLines added_lines;
  while (failure.ok() && !interrupted.load()) {
    absl::StatusOr<bool> next = reader.Next(&sample);
    // A file's samples were measured by the check; stdin's are measured here.
    if (from_stdin && next.ok() && *next) next = FitsABatch(sample, source, reader.line());
    if (!from_stdin && read == total) {
      // Only what was checked is sent (outside testing: a bad row appended while the
      // file was sent stopped the ingest after 600,000 samples had been stored).
      grew = !next.ok() || *next;
      break;
    }
    if (!next.ok()) {
      bad_row = next.status();
      break;
    }
    if (!*next) break;
    while (true) {
      absl::Status added = writer.Add(sample);
      if (added.ok()) {
        // Counted once taken: a sample the stopped writer refused is not sent, and the
        // summary's fields add up to `read` (outside testing: one more than
        // accepted + not_acknowledged after every early stop).
        ++read;
        added_lines.Add(reader.line());
        break;
      }
      if (added.code() != absl::StatusCode::kResourceExhausted) {
        failure = added;
        break;
      }
      const sdk::TelemetryBatchWriterStats stats = writer.Stats();
      progress.Update(read, stats);
      if (absl::Status stalled = stall.Check(stats); !stalled.ok()) failure = stalled;
      if (!failure.ok() || interrupted.load()) break;
    }
    if (!failure.ok()) break;
    progress.Update(read, writer.Stats());
  }
  // An --import-id run that stopped at a bad row of stdin sends no partial batch: with
  // the row fixed, the same command goes on where the whole batches end.
  const bool import_cut_short = !import_id_.empty() && !bad_row.ok();
  // Everything added is acknowledged, unless the writer stopped, stalled or Ctrl-C.
  while (failure.ok() && !interrupted.load() && !import_cut_short) {
    absl::Status flushed = writer.Flush(absl::Now() + kWaitSlice);
    if (flushed.ok()) break;
    if (flushed.code() != absl::StatusCode::kDeadlineExceeded) {
      failure = flushed;
      break;
    }
    const sdk::TelemetryBatchWriterStats stats = writer.Stats();
    progress.Update(read, stats);
    if (absl::Status stalled = stall.Check(stats); !stalled.ok()) failure = stalled;
  }
  // Stopped by Ctrl-C or a failure: at once, the batch being filled not sent (a batch goes
  // only whole, so an --import-id run sent again finds the same batches). An import cut
  // short at a bad row still waits for its whole batches (up to --timeout): they are
  // stored and counted, only the last part of one is not sent.
  if (!failure.ok() || interrupted.load()) {
    writer.Stop().IgnoreError();  // what it abandons is in the summary
  } else if (import_cut_short) {
    writer.Stop(absl::Now() + absl::Seconds(env.stall_seconds)).IgnoreError();
  } else {
    // Everything is acknowledged here: Close half-closes the stream and returns with the
    // server's answer (with a deadline already past, it cancelled the stream, and the
    // server logged healthy ingests as CANCELLED).
    absl::Status closed = writer.Close(absl::Now() + absl::Seconds(env.stall_seconds));
    if (!closed.ok()) failure = closed;
  }
  if (env.canceller != nullptr) {
    env.canceller->SetBlockingReader(false);
    env.canceller->SetStopper(nullptr);
  }
  const sdk::TelemetryBatchWriterStats stats = writer.Stats();
  progress.Update(read, stats, /*force=*/true);
  progress.Clear();

  PrintSummary(source, read, stats, absl::Now() - start, env.json_summary, out);
  {
    std::lock_guard<std::mutex> lock(rejects->mutex);
    for (const sdk::RejectedSampleReport& report : rejects->shown) {
      err << "rejected (" << ReasonName(report.reason) << ") " << source << ":"
          << added_lines.LineOf(report.added_index) << ": " << WithoutBatchPlace(report.message)
          << ": value " << ValueForMessage(report.sample) << "\n";
    }
    if (stats.samples_rejected > static_cast<int64_t>(rejects->shown.size())) {
      err << "... and " << Grouped(stats.samples_rejected - rejects->shown.size())
          << " more rejected samples\n";
    }
  }
  if (grew) {
    err << "plantctl: " << source << " grew while it was sent; the " << Grouped(total)
        << " samples checked were sent, what was added after them was not\n";
  }
  // How to go on after a run cut short (outside testing: the obvious rerun, without
  // --import-id, stored the acknowledged part a second time, and nothing said so; re-test:
  // samples sent and not yet answered may be stored too, so "the rest" is not known).
  auto how_to_go_on = [&] {
    if (!import_id_.empty()) {
      err << "plantctl: run the same command again (the same --import-id " << import_id_
          << ") once the server answers: it sends the rest, and nothing is stored twice\n";
      return;
    }
    if (stats.server_never_reached) {
      // The cause may be this side's: a refused certificate, plaintext against TLS
      // (outside testing: the advice read as if only the server were missing).
      err << "plantctl: the server was never reached, so nothing was sent or stored: run the "
             "same command again once it answers, or once what the error above names is "
             "mended (a certificate, the CA, --insecure)\n";
      return;
    }
    const int64_t unanswered = stats.samples_sent - stats.samples_acknowledged();
    err << "plantctl: the " << Grouped(stats.samples_acknowledged())
        << " acknowledged samples are stored";
    if (unanswered > 0) {
      err << ", and some of the " << Grouped(unanswered)
          << " sent after them may be (their answers did not come back)";
    }
    err << "; this run had no --import-id, so running the same command again stores what is "
           "stored a second time. Use --import-id from the start for an input you may have "
           "to send again (a rerun then sends only what is not stored)\n";
  };
  if (interrupted.load()) {
    err << "plantctl: interrupted\n";
    if (stats.samples_sent > 0) how_to_go_on();
    return kExitInterrupted;
  }
  if (!failure.ok()) {
    err << sdk::DescribeStatus(failure) << "\n";
    if (!import_id_.empty() && failure.code() == absl::StatusCode::kAlreadyExists) {
      err << "plantctl: --import-id " << import_id_
          << " was used for other samples (or another --batch-size): one id per input\n";
    } else if (!import_id_.empty() && failure.code() == absl::StatusCode::kFailedPrecondition) {
      err << "plantctl: --import-id " << import_id_
          << ": the server no longer holds the record of this import's batches (kept "
             "[telemetry] batch-record-hours), so it cannot tell which are stored; nothing "
             "was stored twice\n";
    } else if (failure.code() == absl::StatusCode::kUnavailable ||
               failure.code() == absl::StatusCode::kDeadlineExceeded ||
               stats.samples_acknowledged() > 0) {
      // Any failure after a part was stored (outside testing: PERMISSION_DENIED after
      // 275,400 accepted samples said nothing of the rerun that would store them twice).
      how_to_go_on();
    }
    return kExitStatusBase + static_cast<int>(failure.code());
  }
  if (!bad_row.ok()) {
    err << "plantctl: " << bad_row.message() << "\n";
    if (import_cut_short) {
      err << "plantctl: stopped there; of the " << Grouped(read)
          << " samples before it, the whole batches were sent (the summary counts them) and "
             "the last part of one was not: fix the row and run the same command again, "
             "--import-id "
          << import_id_ << " goes on from there\n";
    } else {
      err << "plantctl: stopped there; the " << Grouped(read) << " samples before it were sent"
          << (from_stdin ? "" : " (the file changed after it was checked: it is no usage error)")
          << "\n";
    }
    // A file checked whole whose send stops at a bad row changed meanwhile (truncated,
    // rewritten): this machine's failure, with samples sent (outside testing: a rotation by
    // copytruncate stored 325,027 samples and exited 2, as if nothing had been sent).
    if (!from_stdin) return kExitLocalFailure;
    return bad_row.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitLocalFailure;
  }
  if (stats.samples_rejected > 0) {
    return kExitStatusBase + static_cast<int>(absl::StatusCode::kInvalidArgument);
  }
  return 0;
}

}  // namespace plantmesh::cli
