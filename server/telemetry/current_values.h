// StreamSamples' current values (the first messages of a tail without a cursor), read
// from the store a few machines at a time as the client pulls them: a tail holds one
// read's values and messages, whatever its selection (500 machines of 500 text values
// are ~250 MB in memory at once; outside testing held 1.25 GB with four stalled screens
// when the whole snapshot was read up front). Each read is its own snapshot, taken
// after the tail's position: a value may be newer than the position, and the batch that
// set it then comes again among the changes.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plantmesh/telemetry/v1/telemetry_service.pb.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

// StreamSamples' current values go out in messages of at most this many bytes
// (serialized), so that a client's default 4 MiB receive limit holds for any selection
// (500 machines of 500 data items are ~20 MB). The contract names the figure.
inline constexpr size_t kCurrentValuesMessageBytes = size_t{1} << 20;

// At most this many values in one read of the store (the selection's data items, or
// kMaxDataItems when it names none, per machine; at least one machine a read), then
// as many machines as the last read's values per machine make about that many, up to
// kMaxMachinesPerRead: machines have a few dozen data items more often than 500 (500
// such machines took 250 reads before).
inline constexpr int kCurrentValuesPerRead = 1000;
inline constexpr size_t kMaxMachinesPerRead = 64;

class CurrentValues {
 public:
  // The newest value of each selected data item of `machine_ids` (sorted bytewise, no
  // duplicates), as TelemetryStore::LatestValues answers for a few of them at a time.
  using ReadValues = std::function<absl::StatusOr<std::vector<StoredSample>>(
      const std::vector<std::string>& machine_ids)>;

  // `data_items_selected`: how many data item ids the tail names (0: all of each machine).
  // `cursor`: the event position taken before the first read, on the last message.
  CurrentValues(std::vector<std::string> machine_ids, size_t data_items_selected,
                size_t message_bytes, std::string cursor, ReadValues read);

  // The next message: by machine then data item id, bytewise, each of at most
  // `message_bytes` serialized and all but the last as full as a value more would not
  // allow; the last flagged complete and with the cursor (resuming from an earlier one
  // would skip the rest), also when there are no values. False once that one was given;
  // a failed read's status (the values given so far stand).
  absl::StatusOr<bool> Next(v1::StreamSamplesResponse* message);

 private:
  // Reads the next machines' values into messages until one is ready or none is left.
  absl::Status ReadUntilAMessageIsReady();
  void Add(const Sample& value);

  const std::vector<std::string> machine_ids_;
  // Machines a read takes: at first what cannot pass kCurrentValuesPerRead values (the
  // selection's bound), then sized by the values per machine found.
  const size_t safe_machines_per_read_;
  size_t machines_per_read_;
  const size_t sample_bytes_;  // of a message, beside its cursor and flags
  const std::string cursor_;
  const ReadValues read_;
  size_t next_machine_ = 0;
  std::deque<v1::StreamSamplesResponse> ready_;
  v1::StreamSamplesResponse building_;
  size_t building_bytes_ = 0;
  bool done_ = false;
};

}  // namespace plantmesh::telemetry
