// TelemetryServiceImpl's machine-state handlers: ListStateIntervals, GetUtilization,
// ListDowntimes, SetDowntimeReason (rules in states.h; the timeline is moved at ingest).
#include <optional>
#include <string>

#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/page_fit.h"
#include "server/runtime/proto_time.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/service.h"
#include "server/telemetry/states.h"

namespace plantmesh::telemetry {
absl::Status TelemetryServiceImpl::HandleListStateIntervals(
    runtime::CallContext& call, const v1::ListStateIntervalsRequest& request,
    v1::ListStateIntervalsResponse* response) {
  PM_ASSIGN_OR_RETURN(
      StateIntervalQuery query,
      MakeStateIntervalQuery(request.machine_id(),
                             runtime::TimeFromProto(request.has_start_time(), request.start_time()),
                             runtime::TimeFromProto(request.has_end_time(), request.end_time()),
                             request.page_size(), request.page_token()));
  PM_RETURN_IF_ERROR(RequireMachines({query.machine_id}));
  std::optional<absl::Time> after;
  if (query.after) after = query.after->sort_time;
  // One more closed interval than the page tells whether the closed ones go on.
  PM_ASSIGN_OR_RETURN(TimelineFacts facts,
                      store_->StateTimeline(query.machine_id, query.start_time, query.end_time,
                                            after, query.page_size + 1));
  const StateIntervalPage page = TimelinePage(query, facts, deps_.now());
  for (const ListedInterval& listed : page.intervals) {
    v1::StateInterval* out = response->add_intervals();
    out->set_machine_id(query.machine_id);
    out->set_state(static_cast<v1::MachineState>(listed.interval.state));
    runtime::TimeToProto(listed.interval.start, out->mutable_start_time());
    runtime::TimeToProto(listed.interval.end, out->mutable_end_time());
    out->set_current(listed.current);
  }
  runtime::EndPage(response, response->mutable_intervals(), page.intervals.size(), page.more,
                   deps_.config,
                   [&](size_t i) { return NextStateIntervalPageToken(query, page.intervals[i]); });
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleGetUtilization(runtime::CallContext& call,
                                                        const v1::GetUtilizationRequest& request,
                                                        v1::GetUtilizationResponse* response) {
  const std::optional<absl::Time> start =
      runtime::TimeFromProto(request.has_start_time(), request.start_time());
  const std::optional<absl::Time> end =
      runtime::TimeFromProto(request.has_end_time(), request.end_time());
  PM_RETURN_IF_ERROR(CheckUtilizationRange(request.machine_id(), start, end));
  PM_RETURN_IF_ERROR(RequireMachines({request.machine_id()}));
  // A page at a time; a call its client gave up is not read on (outside testing: ten
  // abandoned year-long calls ran on for two minutes each).
  auto read_page = [&](std::optional<absl::Time> after,
                       int limit) -> absl::StatusOr<TimelineFacts> {
    if (call.Cancelled()) return absl::CancelledError("utilization cancelled");
    return store_->StateTimeline(request.machine_id(), *start, *end, after, limit);
  };
  PM_ASSIGN_OR_RETURN(auto durations, UtilizationOf(read_page, *start, *end, deps_.now()));
  PM_ASSIGN_OR_RETURN(PartCountSum parts, PartCountSum::ForRange(*start, *end));
  PM_RETURN_IF_ERROR(store_->PartCountObservations(
      request.machine_id(), *start, *end,
      [&](const std::string& item, const PartCountObservation& o) { parts.Add(item, o); }));
  for (MachineState state : kAllMachineStates) {
    v1::StateDuration* out = response->add_state_durations();
    out->set_state(static_cast<v1::MachineState>(state));
    out->set_seconds(static_cast<double>(absl::ToInt64Microseconds(durations[state])) / 1e6);
  }
  PM_ASSIGN_OR_RETURN(const int64_t part_count, parts.PartCount());
  response->set_part_count(part_count);
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleListDowntimes(runtime::CallContext& call,
                                                       const v1::ListDowntimesRequest& request,
                                                       v1::ListDowntimesResponse* response) {
  PM_ASSIGN_OR_RETURN(
      DowntimeQuery query,
      MakeDowntimeQuery(request.machine_id(),
                        runtime::TimeFromProto(request.has_start_time(), request.start_time()),
                        runtime::TimeFromProto(request.has_end_time(), request.end_time()),
                        request.without_reason(), request.page_size(), request.page_token()));
  // The machine filter is optional; a named machine must exist.
  if (!request.machine_id().empty()) {
    PM_RETURN_IF_ERROR(RequireMachines({request.machine_id()}));
  }
  PM_ASSIGN_OR_RETURN(DowntimePage page, store_->ListDowntimes(query));
  for (const Downtime& d : page.downtimes) ToProto(d, response->add_downtimes());
  runtime::EndPage(response, response->mutable_downtimes(), page.downtimes.size(), page.more,
                   deps_.config,
                   [&](size_t i) { return NextDowntimePageToken(query, page.downtimes[i]); });
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleSetDowntimeReason(
    runtime::CallContext& call, const v1::SetDowntimeReasonRequest& request,
    v1::SetDowntimeReasonResponse* response) {
  const DowntimeReason reason{request.reason_code(), request.comment()};
  runtime::Violations violations;
  const std::optional<int64_t> id = ParseDowntimeId(request.id(), violations);
  CheckDowntimeReason(reason, violations);
  PM_RETURN_IF_ERROR(violations.ToStatus());
  PM_ASSIGN_OR_RETURN(
      Replayable<Downtime> answer,
      store_->SetDowntimeReason(*id, reason, Context(call, request), [](const Downtime& d) {
        v1::SetDowntimeReasonResponse encoded;
        ToProto(d, encoded.mutable_downtime());
        return encoded.SerializeAsString();
      }));
  if (answer.recorded_response) {
    if (!response->ParseFromString(*answer.recorded_response)) {
      return absl::InternalError("the recorded response of this request_id cannot be read");
    }
    return absl::OkStatus();
  }
  if (!answer.value) return absl::InternalError("the store returned no result");
  ToProto(*answer.value, response->mutable_downtime());
  return absl::OkStatus();
}

}  // namespace plantmesh::telemetry
