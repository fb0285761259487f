#include "cli/telemetry_tail.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <streambuf>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "cli/sample_file.h"
#include "cli/signal_canceller.h"
#include "cli/watch_commands.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "plantmesh/sdk/status.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"

namespace plantmesh::cli {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;

constexpr absl::Duration kAgeTick = absl::Seconds(1);
const std::string kNoUnits;

absl::Time TimeOf(const tv1::Sample& sample) {
  return absl::FromUnixSeconds(sample.time().seconds()) + absl::Nanoseconds(sample.time().nanos());
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%E4Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// The sample's value alone, for "did it change?".
std::string ValueBytes(const tv1::Sample& sample) {
  tv1::Sample value = sample;
  value.clear_machine_id();
  value.clear_data_item_id();
  value.clear_time();
  return value.SerializeAsString();
}

// `text` cut to `width` display columns (whole characters).
std::string CutToWidth(const std::string& text, size_t width) {
  if (width == 0 || DisplayWidth(text) <= width) return text;
  std::string out;
  size_t used = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t next = i + 1;
    while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
    const std::string character = text.substr(i, next - i);
    const size_t w = DisplayWidth(character);
    if (used + w > width) break;
    out += character;
    used += w;
    i = next;
  }
  return out;
}

// stderr's notes while the table owns the terminal: kept (thread-safe) and drawn as the
// table's last line instead of scrolling it away.
class NoteLine final : public std::streambuf {
 public:
  std::string Last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    absl::MutexLock lock(&mu_);
    if (c == '\n') {
      last_ = EscapeForTable(pending_);
      pending_.clear();
    } else {
      pending_.push_back(static_cast<char>(c));
    }
    return c;
  }

 private:
  absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  std::string last_ ABSL_GUARDED_BY(mu_);
};

size_t TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 0;
}

}  // namespace

std::string TailValueText(const tv1::Sample& sample, const std::string& units) {
  switch (sample.value_case()) {
    case tv1::Sample::kNumber: {
      std::string text = absl::StrFormat("%.15g", sample.number());
      return units.empty() ? text : absl::StrCat(text, " ", units);
    }
    case tv1::Sample::kText:
      return sample.text();
    case tv1::Sample::kCondition: {
      std::string level = tv1::ConditionLevel_Name(sample.condition().level());
      constexpr absl::string_view kPrefix = "CONDITION_LEVEL_";
      if (absl::StartsWith(level, kPrefix)) level = level.substr(kPrefix.size());
      std::vector<std::string> parts = {level};
      if (!sample.condition().native_code().empty()) {
        parts.push_back(sample.condition().native_code());
      }
      if (!sample.condition().message().empty()) parts.push_back(sample.condition().message());
      return absl::StrJoin(parts, " ");
    }
    case tv1::Sample::kUnavailable:
      return "UNAVAILABLE";
    case tv1::Sample::kWritten:  // the server answers what it read it as; shown as written
      return sample.written();
    case tv1::Sample::VALUE_NOT_SET:
      break;
  }
  return "";
}

std::string TailCsvRow(const tv1::Sample& sample, const std::string& units) {
  const SampleFileValue value = SampleFileValueOf(sample);
  return absl::StrJoin(
      {absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", TimeOf(sample), absl::UTCTimeZone()),
       CsvField(sample.machine_id()), CsvField(sample.data_item_id()), CsvField(value.value),
       CsvField(units), value.kind,
       sample.source_sequence() == 0 ? std::string() : absl::StrCat(sample.source_sequence())},
      ",");
}

std::string TailAgeText(absl::Duration age) {
  if (age < absl::ZeroDuration()) return "-";
  const int64_t seconds = absl::ToInt64Seconds(age);
  if (seconds < 10) return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(age));
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  if (seconds < 86400) return absl::StrFormat("%dh%02dm", seconds / 3600, seconds % 3600 / 60);
  return absl::StrFormat("%dd%02dh", seconds / 86400, seconds % 86400 / 3600);
}

std::string TailPlainLine(const tv1::Sample& sample, const std::string& units) {
  return absl::StrCat(Rfc3339(TimeOf(sample)), " ", sample.machine_id(), " ", sample.data_item_id(),
                      " ", EscapeForTable(TailValueText(sample, units)));
}

std::string TailJsonLine(const tv1::Sample& sample, const std::string& units) {
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(ToJson(sample));
  json["units"] = units;
  return EscapeInvisibleInJson(json.dump());
}

void TailTable::SetUnits(const std::string& machine_id, const std::string& data_item_id,
                         const std::string& units) {
  units_[{machine_id, data_item_id}] = units;
}

const std::string& TailTable::UnitsOf(const tv1::Sample& sample) const {
  auto it = units_.find({sample.machine_id(), sample.data_item_id()});
  return it == units_.end() ? kNoUnits : it->second;
}

bool TailTable::Update(const tv1::Sample& sample) {
  auto [it, inserted] = values_.try_emplace({sample.machine_id(), sample.data_item_id()}, sample);
  if (inserted) return true;
  const absl::Time kept = TimeOf(it->second);
  const absl::Time given = TimeOf(sample);
  // A late sample (older than the value shown) is history, not the current value.
  if (given < kept) return false;
  if (given == kept && ValueBytes(sample) == ValueBytes(it->second)) return false;
  it->second = sample;
  return true;
}

std::vector<std::string> TailTable::Lines(absl::Time now, size_t width) const {
  std::vector<std::vector<std::string>> rows = {{"MACHINE", "DATA ITEM", "VALUE", "TIME", "AGE"}};
  for (const auto& [key, sample] : values_) {
    rows.push_back({EscapeForTable(key.first), EscapeForTable(key.second),
                    EscapeForTable(TailValueText(sample, UnitsOf(sample))),
                    absl::FormatTime("%E4Y-%m-%d %H:%M:%E3S", TimeOf(sample), absl::UTCTimeZone()),
                    TailAgeText(now - TimeOf(sample))});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::vector<std::string> lines;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool last = i + 1 == row.size();
      // The age is right-aligned; the other columns left-aligned.
      if (last) line.append(widths[i] - DisplayWidth(row[i]), ' ');
      line += row[i];
      if (!last) line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    lines.push_back(CutToWidth(line, width));
  }
  return lines;
}

std::string TailTable::Frame(absl::Time now, size_t width, const std::string& status) {
  std::vector<std::string> lines = Lines(now, width);
  if (!status.empty()) lines.push_back(CutToWidth(status, width));
  std::string frame = "\r";
  if (drawn_lines_ > 0) absl::StrAppend(&frame, "\x1b[", drawn_lines_, "A");
  for (const std::string& line : lines) absl::StrAppend(&frame, line, "\x1b[K\n");
  frame += "\x1b[J";
  drawn_lines_ = lines.size();
  return frame;
}

TelemetryTailCommand::TelemetryTailCommand(CLI::App* root) {
  CLI::App* telemetry = root->get_subcommand("telemetry");
  command_ = telemetry->add_subcommand(
      "tail",
      "Follow the live values of machines (StreamSamples). On a terminal (-o table, its "
      "default there): a table of machine, data item, value with units, time and age, updated "
      "in place. Otherwise one line per change: TIME MACHINE DATA_ITEM VALUE (-o table/wide), "
      "the sample as JSON with its units (-o json, the default off a terminal) or CSV (-o csv). "
      "Starts with the current values, "
      "then each committed change; resumes from its last cursor after a server restart, and "
      "starts again from the current values when the server can no longer serve that cursor "
      "(Redis came back empty). Runs until Ctrl-C.");
  command_->group("Commands (hand-written)");
  command_->add_option("MACHINE", machine_ids_, "Machine ids to follow, 1-500")->required();
  // One value per flag, so `-d S1speed CNC-07` leaves CNC-07 a machine.
  command_
      ->add_option("--data-item,-d", data_item_ids_,
                   "A data item to follow (repeat for more); default: every data item")
      ->allow_extra_args(false);
}

bool TelemetryTailCommand::Selected() const { return command_->parsed(); }

int TelemetryTailCommand::Run(const ConnectionSettings& settings, const std::string& output,
                              const ContractCatalog& catalog, SignalCanceller* canceller) const {
  if (absl::Status complete = CheckConnectionSettings(settings); !complete.ok()) {
    std::cerr << "plantctl: " << complete.message() << "\n";
    return kExitUsage;
  }
  sdk::ClientOptions options = settings.options;
  options.endpoint = EndpointFor(settings, "telemetry");  // [endpoints] / --service-endpoint
  options.default_deadline = absl::Seconds(settings.timeout_seconds);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(options);
  if (!channel.ok()) {
    std::cerr << "plantctl: " << sdk::DescribeStatus(InFlagTerms(channel.status())) << "\n";
    return channel.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : ExitCodeFor(channel.status());
  }

  // The units of every data item (a machine that is not registered ends here, NOT_FOUND).
  TailTable table;
  sdk::TelemetryClient client(*channel, options);
  for (const std::string& machine_id : machine_ids_) {
    tv1::GetMachineRequest get;
    get.set_id(machine_id);
    absl::StatusOr<tv1::GetMachineResponse> machine = client.GetMachine(get);
    if (!machine.ok()) {
      std::cerr << sdk::DescribeStatus(machine.status()) << "\n";
      return ExitCodeFor(machine.status());
    }
    for (const tv1::DataItem& item : machine->machine().data_items()) {
      table.SetUnits(machine_id, item.id(), item.units());
    }
  }

  const MethodCommand* stream_samples = catalog.Find("telemetry", "stream-samples");
  if (stream_samples == nullptr) {
    std::cerr << "plantctl: the embedded contracts have no TelemetryService.StreamSamples\n";
    return 1;
  }
  tv1::StreamSamplesRequest typed_request;
  for (const std::string& id : machine_ids_) typed_request.add_machine_ids(id);
  for (const std::string& id : data_item_ids_) typed_request.add_data_item_ids(id);
  std::unique_ptr<google::protobuf::Message> request =
      catalog.NewMessage(stream_samples->method->input_type());
  request->ParseFromString(typed_request.SerializeAsString());

  absl::StatusOr<OutputFormat> format = ParseOutputFormat(output);
  if (!format.ok()) format = OutputFormat::kTable;
  // The live table on a terminal; lines for a pipe, a file, or -o json/csv anywhere.
  const bool terminal = isatty(STDOUT_FILENO) != 0 &&
                        (*format == OutputFormat::kTable || *format == OutputFormat::kWide);
  NoteLine note_line;
  std::ostream notes_on_table(&note_line);
  ResponsePrinter printer(*format, std::cout, terminal ? notes_on_table : std::cerr);

  RunEnvironment env;
  env.channel = *channel;
  env.options = options;
  env.printer = &printer;
  env.on_call = [canceller](grpc::ClientContext* context) { canceller->SetCall(context); };
  env.interrupted = &canceller->interrupted();
  env.set_stopper = [canceller](std::function<void()> stop) {
    canceller->SetStopper(std::move(stop));
  };

  absl::Mutex mu;  // the table and the terminal
  bool stop_ticking = false;
  auto redraw = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::cout << table.Frame(absl::Now(), TerminalWidth(), note_line.Last()) << std::flush;
  };
  std::thread ticker;
  if (terminal) {
    // The age column moves on without changes.
    ticker = std::thread([&] {
      absl::MutexLock lock(&mu);
      while (!mu.AwaitWithTimeout(absl::Condition(&stop_ticking), kAgeTick)) redraw();
    });
  }
  bool csv_header = false;
  // The newest sample time shown per (machine, data item): what a lost cursor may have
  // missed of an item is newer than that (an older sample would not be shown).
  std::map<std::pair<std::string, std::string>, google::protobuf::Timestamp> newest_shown;
  auto on_response = [&](const google::protobuf::Message& response) {
    tv1::StreamSamplesResponse message;
    message.ParseFromString(response.SerializeAsString());
    absl::MutexLock lock(&mu);
    for (const tv1::Sample& sample : message.samples()) {
      if (!table.Update(sample)) continue;
      google::protobuf::Timestamp& newest =
          newest_shown[{sample.machine_id(), sample.data_item_id()}];
      if (newest < sample.time()) newest = sample.time();
      if (terminal) continue;
      const std::string& units = table.UnitsOf(sample);
      switch (*format) {
        case OutputFormat::kJson:
          std::cout << TailJsonLine(sample, units) << "\n";
          break;
        case OutputFormat::kCsv:
          // CRLF rows, as every -o csv (outside testing: the tail's alone were LF).
          if (!csv_header) std::cout << kTailCsvHeader << "\r\n";
          csv_header = true;
          std::cout << TailCsvRow(sample, units) << "\r\n";
          break;
        case OutputFormat::kTable:
        case OutputFormat::kWide:
          std::cout << TailPlainLine(sample, units) << "\n";
          break;
      }
    }
    if (terminal) {
      redraw();
    } else {
      std::cout.flush();
    }
  };
  // Outside testing: a recorded tail (-o csv) had a hole where Redis came back empty, and
  // the note did not say so; then it named the newest time of all, after what another
  // machine (an adapter 60 s behind) had missed. The earliest of the items' newest covers
  // every item shown.
  auto what_was_missed = [&]() -> std::string {
    absl::MutexLock lock(&mu);
    std::optional<google::protobuf::Timestamp> from;
    for (const auto& [item, newest] : newest_shown) {
      if (!from || newest < *from) from = newest;
    }
    // A data item first heard of meanwhile may have missed samples of any time (re-test:
    // a machine that came online during the gap, its clock 2 h behind).
    return absl::StrCat(
        "samples stored while the cursor was lost are not shown: `plantctl telemetry "
        "query-samples` has them",
        from ? absl::StrCat(", after ", google::protobuf::util::TimeUtil::ToString(*from),
                            " (the earliest of the newest times shown per data item) for the "
                            "data items shown so far, and any time before its first sample "
                            "shown for another")
             : std::string());
  };
  absl::Status status =
      FollowResumingWatch(*stream_samples, catalog, *request, env, on_response, what_was_missed);
  if (ticker.joinable()) {
    {
      absl::MutexLock lock(&mu);
      stop_ticking = true;
    }
    ticker.join();
  }
  std::cout.flush();
  if (absl::IsCancelled(status) && env.interrupted != nullptr && env.interrupted->load()) {
    std::cerr << "plantctl: interrupted\n";  // before the tail reached the server
    return kExitInterrupted;
  }
  if (!status.ok()) {
    std::cerr << sdk::DescribeStatus(status) << "\n";
    return ExitCodeFor(status);
  }
  return 0;
}

}  // namespace plantmesh::cli
