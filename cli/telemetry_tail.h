// `plantctl telemetry tail MACHINE... [--data-item ID]...`: follows live values through
// TelemetryService.StreamSamples. On a terminal (with -o table or wide, the default
// there), stdout shows a table (machine, data
// item, value with units, time, age) redrawn in place with ANSI cursor movement, its age
// column ticking every second; otherwise it prints one line per change (a sample whose
// time or value differs from the one shown for its data item): plain text with -o table
// or wide, a JSON object with -o json (plantctl's default off a terminal), a CSV row with
// -o csv. The first values are the current ones, then changes as they are committed.
// A stream that ends resumably (server restart, drain, a slow reader cut off) is opened
// again from its last cursor, as `plantctl <service> watch-<x>` does (FollowResumingWatch);
// a sample delivered twice prints once. Runs until Ctrl-C (exit 0).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "cli/connection_flags.h"
#include "cli/contract_catalog.h"
#include "plantmesh/telemetry/v1/telemetry.pb.h"

namespace plantmesh::cli {

class SignalCanceller;

// A sample's value for people: a number with the data item's units ("1200 rpm"), a text,
// a condition ("FAULT SV0401 SERVO ALARM"), or "UNAVAILABLE".
std::string TailValueText(const telemetry::v1::Sample& sample, const std::string& units);

// How old a value is: "0.4s", "12s", "3m05s", "2h01m", "3d04h"; "-" for a time ahead
// of now (a machine clock running fast).
std::string TailAgeText(absl::Duration age);

// One line per change, off a terminal: "TIME MACHINE DATA_ITEM VALUE" (plain), or the
// proto JSON of the sample with a "units" member added.
std::string TailPlainLine(const telemetry::v1::Sample& sample, const std::string& units);
// -o csv: a sample file `plantctl telemetry ingest` reads back (cli/sample_file.h): the
// header kTailCsvHeader, then one row per change, its time with 6 fraction digits (the
// stored precision, so rows sort as text), its value and kind as sample files write them,
// its source_sequence (empty for none; outside testing: a re-ingested tail lost them).
inline constexpr char kTailCsvHeader[] =
    "time,machine_id,data_item_id,value,units,kind,source_sequence";
std::string TailCsvRow(const telemetry::v1::Sample& sample, const std::string& units);
std::string TailJsonLine(const telemetry::v1::Sample& sample, const std::string& units);

// The newest value per (machine, data item), kept for the table and for "changed?".
class TailTable {
 public:
  void SetUnits(const std::string& machine_id, const std::string& data_item_id,
                const std::string& units);
  const std::string& UnitsOf(const telemetry::v1::Sample& sample) const;

  // Keeps `sample` as its data item's value unless it is older than the one kept; true
  // when it is new or differs from it (in time or value): a change to show.
  bool Update(const telemetry::v1::Sample& sample);

  // The table's lines: a header, then one row per data item by machine then data item
  // id; columns aligned by display width; a row wider than `width` columns (0: no
  // limit) is cut to it.
  std::vector<std::string> Lines(absl::Time now, size_t width = 0) const;

  // What redraws the table in place: the cursor up over the previous frame's lines,
  // each line then "erase to end of line", and "erase below" (a shorter frame leaves
  // nothing behind). `status` (empty: none) is a last line, e.g. a resume note.
  std::string Frame(absl::Time now, size_t width, const std::string& status);

 private:
  using Key = std::pair<std::string, std::string>;
  std::map<Key, std::string> units_;
  std::map<Key, telemetry::v1::Sample> values_;
  size_t drawn_lines_ = 0;
};

class TelemetryTailCommand {
 public:
  // Adds `tail` under `root`'s `telemetry` command (made by CommandTree).
  explicit TelemetryTailCommand(CLI::App* root);

  bool Selected() const;
  // Runs it; returns the exit code (plantctl's: 0 after Ctrl-C, 10 + the gRPC code of an
  // error that resuming cannot fix, e.g. 15 NOT_FOUND for an unknown machine).
  int Run(const ConnectionSettings& settings, const std::string& output,
          const ContractCatalog& catalog, SignalCanceller* canceller) const;

 private:
  CLI::App* command_ = nullptr;
  std::vector<std::string> machine_ids_;
  std::vector<std::string> data_item_ids_;
};

}  // namespace plantmesh::cli
