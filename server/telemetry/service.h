// The gRPC handlers of plantmesh.telemetry.v1.TelemetryService. Thin: check, convert
// proto <-> domain, call the domain and the store. Authorization, audit, input rules
// and the status mapping happen around them in the generated base (CallPolicy).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "plantmesh/telemetry/v1/telemetry_service.pm_server.h"
#include "server/runtime/service_module.h"
#include "server/telemetry/config.h"
#include "server/telemetry/latest_cache.h"
#include "server/telemetry/store.h"

namespace plantmesh::telemetry {

// The Redis stream the outbox relay feeds: a committed group of batches' samples in
// events of at most ~1 MiB (GroupEvents, store.h), and the downtime events.
inline constexpr char kEventStreamKey[] = "plantmesh:telemetry:events";

// What ingest has done since the server started, for logs and tests.
struct IngestFigures {
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> duplicate_batches{0};
  std::atomic<int64_t> accepted{0};
  std::array<std::atomic<int64_t>, kRejectReasonCount> rejected_by_reason{};
};

class TelemetryServiceImpl : public v1::TelemetryServiceBase {
 public:
  // `store`, `latest_cache` and everything `deps` points to outlive the service.
  // `config`: the `[telemetry]` section (defaults when the server has none).
  // `latest_cache`: GetLatestValues' Redis cache, written through after each committed
  // batch and emptied per machine after a registration change; nullptr: none (every
  // read from the store).
  TelemetryServiceImpl(const runtime::ServiceDeps& deps, const TelemetryConfig& config,
                       TelemetryStore* store, LatestCache* latest_cache = nullptr);

  const IngestFigures& figures() const { return figures_; }

 protected:
  absl::Status HandleRegisterMachine(runtime::CallContext& call,
                                     const v1::RegisterMachineRequest& request,
                                     v1::RegisterMachineResponse* response) override;
  absl::Status HandleGetMachine(runtime::CallContext& call, const v1::GetMachineRequest& request,
                                v1::GetMachineResponse* response) override;
  absl::Status HandleResumeIngestWriter(runtime::CallContext& call,
                                        const v1::ResumeIngestWriterRequest& request,
                                        v1::ResumeIngestWriterResponse* response) override;
  absl::Status HandleListMachines(runtime::CallContext& call,
                                  const v1::ListMachinesRequest& request,
                                  v1::ListMachinesResponse* response) override;
  absl::Status HandleUpdateMachine(runtime::CallContext& call,
                                   const v1::UpdateMachineRequest& request,
                                   v1::UpdateMachineResponse* response) override;
  absl::StatusOr<std::unique_ptr<IngestSamplesStream>> HandleIngestSamples(
      runtime::CallContext& call) override;
  absl::Status HandleGetLatestValues(runtime::CallContext& call,
                                     const v1::GetLatestValuesRequest& request,
                                     v1::GetLatestValuesResponse* response) override;
  absl::Status HandleQuerySamples(runtime::CallContext& call,
                                  const v1::QuerySamplesRequest& request,
                                  v1::QuerySamplesResponse* response) override;
  // service_aggregates.cc
  absl::Status HandleQueryAggregates(runtime::CallContext& call,
                                     const v1::QueryAggregatesRequest& request,
                                     v1::QueryAggregatesResponse* response) override;
  // service_tail.cc
  absl::StatusOr<std::unique_ptr<StreamSamplesSource>> HandleStreamSamples(
      runtime::CallContext& call, const v1::StreamSamplesRequest& request) override;

  // Machine states (service_states.cc).
  absl::Status HandleListStateIntervals(runtime::CallContext& call,
                                        const v1::ListStateIntervalsRequest& request,
                                        v1::ListStateIntervalsResponse* response) override;
  absl::Status HandleGetUtilization(runtime::CallContext& call,
                                    const v1::GetUtilizationRequest& request,
                                    v1::GetUtilizationResponse* response) override;
  absl::Status HandleListDowntimes(runtime::CallContext& call,
                                   const v1::ListDowntimesRequest& request,
                                   v1::ListDowntimesResponse* response) override;
  absl::Status HandleSetDowntimeReason(runtime::CallContext& call,
                                       const v1::SetDowntimeReasonRequest& request,
                                       v1::SetDowntimeReasonResponse* response) override;

 private:
  class Ingest;

  ChangeContext Context(runtime::CallContext& call, const google::protobuf::Message& request) const;
  // The one check of every read that names machines (GetLatestValues, QuerySamples,
  // QueryAggregates, StreamSamples, the machine-state reads): NOT_FOUND naming the first
  // of `machine_ids` that is not registered (MachineNotFound), instead of an empty
  // answer that reads as "no data yet".
  absl::Status RequireMachines(const std::vector<std::string>& machine_ids);
  // Which data items a read may name: the registered ones (latest values, live tails), or
  // also those an UpdateMachine left out, whose samples are history (QuerySamples,
  // QueryAggregates).
  enum class ItemsNamed { kRegistered, kRegisteredOrRetired };
  // RequireMachines, then each of `data_item_ids` (a read's filter) is a data item of one
  // of them: DataItemNotFound for the first that is not. One store read either way.
  absl::Status RequireMachinesAndDataItems(const std::vector<std::string>& machine_ids,
                                           const std::vector<std::string>& data_item_ids,
                                           ItemsNamed named);
  // The latest values of `machine_ids` (LatestCache::Read's contract), through the cache
  // when there is one.
  absl::StatusOr<std::vector<StoredSample>> ReadLatest(
      const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids);

  runtime::ServiceDeps deps_;
  TelemetryConfig config_;
  TelemetryStore* store_;
  LatestCache* latest_cache_;
  IngestFigures figures_;
};

}  // namespace plantmesh::telemetry
