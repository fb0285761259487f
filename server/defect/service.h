// The gRPC handlers of plantmesh.defect.v1.DefectService. Thin: validate, convert
// proto ↔ domain, call the domain and the store, return. Authorization, audit and the
// status mapping happen around them in the generated base (CallPolicy).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "plantmesh/defect/v1/defect_service.pm_server.h"
#include "server/defect/store.h"
#include "server/runtime/service_module.h"

namespace plantmesh::defect {

// The Redis stream the outbox relay feeds and WatchDefects reads.
inline constexpr char kEventStreamKey[] = "plantmesh:defect:events";

class DefectServiceImpl : public v1::DefectServiceBase {
 public:
  // `store` and everything `deps` points to outlive the service.
  DefectServiceImpl(const runtime::ServiceDeps& deps, DefectStore* store);

 protected:
  absl::Status HandleCreateDefect(runtime::CallContext& call,
                                  const v1::CreateDefectRequest& request,
                                  v1::CreateDefectResponse* response) override;
  absl::Status HandleGetDefect(runtime::CallContext& call, const v1::GetDefectRequest& request,
                               v1::GetDefectResponse* response) override;
  absl::Status HandleListDefects(runtime::CallContext& call, const v1::ListDefectsRequest& request,
                                 v1::ListDefectsResponse* response) override;
  absl::Status HandleUpdateDefect(runtime::CallContext& call,
                                  const v1::UpdateDefectRequest& request,
                                  v1::UpdateDefectResponse* response) override;
  absl::Status HandleAssignDefect(runtime::CallContext& call,
                                  const v1::AssignDefectRequest& request,
                                  v1::AssignDefectResponse* response) override;
  absl::Status HandleStartRepair(runtime::CallContext& call, const v1::StartRepairRequest& request,
                                 v1::StartRepairResponse* response) override;
  absl::Status HandleFinishRepair(runtime::CallContext& call,
                                  const v1::FinishRepairRequest& request,
                                  v1::FinishRepairResponse* response) override;
  absl::Status HandleVerifyRepair(runtime::CallContext& call,
                                  const v1::VerifyRepairRequest& request,
                                  v1::VerifyRepairResponse* response) override;
  absl::Status HandleCancelDefect(runtime::CallContext& call,
                                  const v1::CancelDefectRequest& request,
                                  v1::CancelDefectResponse* response) override;
  absl::Status HandleGetDefectHistory(runtime::CallContext& call,
                                      const v1::GetDefectHistoryRequest& request,
                                      v1::GetDefectHistoryResponse* response) override;
  absl::StatusOr<std::unique_ptr<WatchDefectsSource>> HandleWatchDefects(
      runtime::CallContext& call, const v1::WatchDefectsRequest& request) override;
  absl::StatusOr<std::unique_ptr<UploadDefectPhotoSink>> HandleUploadDefectPhoto(
      runtime::CallContext& call) override;
  absl::StatusOr<std::unique_ptr<DownloadDefectPhotoSource>> HandleDownloadDefectPhoto(
      runtime::CallContext& call, const v1::DownloadDefectPhotoRequest& request) override;
  absl::Status HandleCreateRepairPlace(runtime::CallContext& call,
                                       const v1::CreateRepairPlaceRequest& request,
                                       v1::CreateRepairPlaceResponse* response) override;
  absl::Status HandleListRepairPlaces(runtime::CallContext& call,
                                      const v1::ListRepairPlacesRequest& request,
                                      v1::ListRepairPlacesResponse* response) override;
  absl::Status HandleCreateCrew(runtime::CallContext& call, const v1::CreateCrewRequest& request,
                                v1::CreateCrewResponse* response) override;
  absl::Status HandleListCrews(runtime::CallContext& call, const v1::ListCrewsRequest& request,
                               v1::ListCrewsResponse* response) override;
  absl::Status HandleCreateMechanic(runtime::CallContext& call,
                                    const v1::CreateMechanicRequest& request,
                                    v1::CreateMechanicResponse* response) override;
  absl::Status HandleListMechanics(runtime::CallContext& call,
                                   const v1::ListMechanicsRequest& request,
                                   v1::ListMechanicsResponse* response) override;
  absl::Status HandleCreateDefectCategory(runtime::CallContext& call,
                                          const v1::CreateDefectCategoryRequest& request,
                                          v1::CreateDefectCategoryResponse* response) override;
  absl::Status HandleListDefectCategories(runtime::CallContext& call,
                                          const v1::ListDefectCategoriesRequest& request,
                                          v1::ListDefectCategoriesResponse* response) override;

 private:
  // One photo upload: takes the client stream's messages as they arrive.
  class PhotoUpload;

  // Runs a change of defect `id` asked by `request` (idempotent by its request_id) and
  // answers with `response`, whose `out` receives the defect after the change. The
  // store reads the facts `wanted` for `mutator`. `now`: the change's one time, which the
  // mutator writes into the defect and the store into its history entry and event (outside
  // testing: an assignment's assign_time and its event_time were two clock readings).
  // `request_check`: the method's own check of the request, answered with the id's and the
  // etag's in one INVALID_ARGUMENT.
  absl::Status Transition(runtime::CallContext& call, const google::protobuf::Message& request,
                          absl::Time now, const std::string& id, const std::string& etag,
                          const absl::Status& request_check, const FactsWanted& wanted,
                          const Mutator& mutator, google::protobuf::Message* response,
                          v1::Defect* out);
  // The caller, request_id and payload fingerprint of `request`, the change's time (`now`,
  // or the clock's now), the encoding of the change's event and the call's audit row (with
  // `request`).
  ChangeContext Context(runtime::CallContext& call, const google::protobuf::Message& request,
                        std::optional<absl::Time> now = std::nullopt) const;
  void EventsCommitted();
  int64_t PhotoMaxBytes() const;

  runtime::ServiceDeps deps_;
  DefectStore* store_;
};

}  // namespace plantmesh::defect
