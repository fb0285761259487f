// The category (SAMPLE, EVENT, CONDITION) of the data items a sample file names, read
// with TelemetryService.GetMachine once per machine, so that `plantctl telemetry ingest`
// reads a value without a kind by its item's category (RetypeGuessedValue in
// cli/sample_file.h).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/telemetry/v1/telemetry.pb.h"

namespace plantmesh::sdk {
class TelemetryClient;
}  // namespace plantmesh::sdk

namespace plantmesh::cli {

class DataItemCategories {
 public:
  // Connects on the first lookup, to `options.endpoint` (the telemetry service's).
  explicit DataItemCategories(sdk::ClientOptions options);
  ~DataItemCategories();

  // The category of the item: DATA_ITEM_CATEGORY_UNSPECIFIED when the machine or the item
  // is not registered (the server rejects such samples itself, UNKNOWN_MACHINE or
  // UNKNOWN_DATA_ITEM); GetMachine's error, said with the machine, otherwise.
  absl::StatusOr<::plantmesh::telemetry::v1::DataItemCategory> Of(const std::string& machine_id,
                                                                  const std::string& data_item_id);

 private:
  sdk::ClientOptions options_;
  std::unique_ptr<sdk::TelemetryClient> client_;
  // machine id -> data item id -> category; an unknown machine maps to no items.
  std::map<std::string, std::map<std::string, ::plantmesh::telemetry::v1::DataItemCategory>>
      machines_;
};

}  // namespace plantmesh::cli
