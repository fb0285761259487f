#include "server/telemetry/current_values.h"

#include <algorithm>
#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "plantmesh/common/status_macros.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/domain.h"

namespace plantmesh::telemetry {
namespace {

// Room for the cursor (at most 256 characters) and the flags.
constexpr size_t kFrameBytes = 512;

}  // namespace

CurrentValues::CurrentValues(std::vector<std::string> machine_ids, size_t data_items_selected,
                             size_t message_bytes, std::string cursor, ReadValues read)
    : machine_ids_(std::move(machine_ids)),
      safe_machines_per_read_(std::max<size_t>(
          1, kCurrentValuesPerRead / (data_items_selected == 0 ? static_cast<size_t>(kMaxDataItems)
                                                               : data_items_selected))),
      machines_per_read_(safe_machines_per_read_),
      sample_bytes_(message_bytes - kFrameBytes),
      cursor_(std::move(cursor)),
      read_(std::move(read)) {}

absl::StatusOr<bool> CurrentValues::Next(v1::StreamSamplesResponse* message) {
  if (ready_.empty() && !done_) PM_RETURN_IF_ERROR(ReadUntilAMessageIsReady());
  if (ready_.empty()) return false;
  *message = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

absl::Status CurrentValues::ReadUntilAMessageIsReady() {
  while (ready_.empty() && next_machine_ < machine_ids_.size()) {
    const size_t first = next_machine_;
    const size_t end = std::min(machine_ids_.size(), first + machines_per_read_);
    PM_ASSIGN_OR_RETURN(
        std::vector<StoredSample> values,
        read_(std::vector<std::string>(machine_ids_.begin() + first, machine_ids_.begin() + end)));
    next_machine_ = end;
    // About kCurrentValuesPerRead values next time at this read's values per machine,
    // never fewer machines than the selection's bound allows nor more than the cap.
    const size_t fit = (end - first) * kCurrentValuesPerRead / std::max<size_t>(values.size(), 1);
    machines_per_read_ = std::clamp(fit, safe_machines_per_read_,
                                    std::max(safe_machines_per_read_, kMaxMachinesPerRead));
    for (const StoredSample& value : values) Add(value.sample);
  }
  if (next_machine_ == machine_ids_.size()) {
    building_.set_current_values(true);
    building_.set_current_values_complete(true);
    building_.set_cursor(cursor_);
    ready_.push_back(std::move(building_));
    done_ = true;
  }
  return absl::OkStatus();
}

void CurrentValues::Add(const Sample& value) {
  v1::Sample sample;
  ToProto(value, &sample);
  const size_t size = sample.ByteSizeLong();
  // The field's tag and length prefix beside the sample itself.
  const size_t encoded = 1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
  if (building_bytes_ + encoded > sample_bytes_ && building_.samples_size() > 0) {
    building_.set_current_values(true);
    ready_.push_back(std::move(building_));
    building_.Clear();
    building_bytes_ = 0;
  }
  *building_.add_samples() = std::move(sample);
  building_bytes_ += encoded;
}

}  // namespace plantmesh::telemetry
