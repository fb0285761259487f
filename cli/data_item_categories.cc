#include "cli/data_item_categories.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"

namespace plantmesh::cli {

namespace tv1 = ::plantmesh::telemetry::v1;

DataItemCategories::DataItemCategories(sdk::ClientOptions options) : options_(std::move(options)) {}

DataItemCategories::~DataItemCategories() = default;

absl::StatusOr<tv1::DataItemCategory> DataItemCategories::Of(const std::string& machine_id,
                                                             const std::string& data_item_id) {
  auto machine = machines_.find(machine_id);
  if (machine == machines_.end()) {
    auto context = [&machine_id](const absl::Status& status) {
      return absl::Status(status.code(),
                          absl::StrCat("reading the data items of machine ", machine_id,
                                       " (a value without a kind is read by its item's "
                                       "category): ",
                                       status.message()));
    };
    if (client_ == nullptr) {
      absl::StatusOr<sdk::TelemetryClient> connected = sdk::TelemetryClient::Connect(options_);
      if (!connected.ok()) return context(connected.status());
      client_ = std::make_unique<sdk::TelemetryClient>(*std::move(connected));
    }
    tv1::GetMachineRequest request;
    request.set_id(machine_id);
    absl::StatusOr<tv1::GetMachineResponse> got = client_->GetMachine(request);
    if (!got.ok() && got.status().code() != absl::StatusCode::kNotFound) {
      return context(got.status());
    }
    machine = machines_.try_emplace(machine_id).first;
    if (got.ok()) {
      for (const tv1::DataItem& item : got->machine().data_items()) {
        machine->second[item.id()] = item.category();
      }
    }
  }
  auto item = machine->second.find(data_item_id);
  return item == machine->second.end() ? tv1::DATA_ITEM_CATEGORY_UNSPECIFIED : item->second;
}

}  // namespace plantmesh::cli
