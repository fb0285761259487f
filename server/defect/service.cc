#include "server/defect/service.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/common/uuid.h"
#include "server/defect/convert.h"
#include "server/defect/domain.h"
#include "server/runtime/errors.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/status_macros.h"

namespace plantmesh::defect {
namespace {

constexpr size_t kMaxRequestIdChars = 128;
constexpr size_t kMaxUploadChunk = 1024 * 1024;
constexpr size_t kDownloadChunk = 64 * 1024;
constexpr int64_t kDefaultPhotoMaxBytes = 10 * 1024 * 1024;
constexpr absl::Duration kWatchBlock = absl::Seconds(1);
constexpr int kWatchBatch = 100;
constexpr absl::Duration kRedisRetry = absl::Milliseconds(500);

absl::Status CheckRequestId(const std::string& request_id) {
  if (request_id.size() > kMaxRequestIdChars) {
    return runtime::InvalidField("request_id",
                                 absl::StrCat("at most ", kMaxRequestIdChars, " characters"));
  }
  return absl::OkStatus();
}

// Event ids recently delivered to one watcher: the relay delivers at least once.
class RecentIds {
 public:
  explicit RecentIds(size_t capacity) : capacity_(capacity) {}
  // False when `id` was seen recently.
  bool Insert(const std::string& id) {
    if (!seen_.insert(id).second) return false;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      seen_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }

 private:
  size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> seen_;
};

// Waits `duration` unless the call ends first.
void SleepUnlessCancelled(const runtime::CallContext& call, absl::Duration duration) {
  const absl::Time until = absl::Now() + duration;
  while (!call.Cancelled() && absl::Now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

DefectServiceImpl::DefectServiceImpl(const runtime::ServiceDeps& deps, DefectStore* store)
    : v1::DefectServiceBase(deps.call_policy), deps_(deps), store_(store) {}

ChangeContext DefectServiceImpl::Context(const runtime::CallContext& call,
                                         const std::string& request_id) const {
  return ChangeContext{request_id, call.identity, deps_.now()};
}

void DefectServiceImpl::EventsCommitted() {
  if (deps_.relay != nullptr) deps_.relay->Notify();
}

int64_t DefectServiceImpl::PhotoMaxBytes() const {
  return deps_.config != nullptr ? deps_.config->photo_max_bytes : kDefaultPhotoMaxBytes;
}

absl::Status DefectServiceImpl::Transition(runtime::CallContext& call, const std::string& id,
                                           const std::string& etag, const std::string& request_id,
                                           ChangeType change_type, const Mutator& mutator,
                                           v1::Defect* out) {
  PM_ASSIGN_OR_RETURN(int64_t defect_id, ParseDefectId(id, "id"));
  PM_RETURN_IF_ERROR(CheckRequestId(request_id));
  ChangeContext context = Context(call, request_id);
  context.change_type = change_type;
  PM_ASSIGN_OR_RETURN(
      Defect after, store_->MutateDefect(
                        defect_id, context, [&](const Defect& current) -> absl::StatusOr<Mutation> {
                          PM_RETURN_IF_ERROR(CheckEtag(current, etag, /*required=*/false));
                          return mutator(current);
                        }));
  EventsCommitted();
  ToProto(after, out);
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleCreateDefect(runtime::CallContext& call,
                                                   const v1::CreateDefectRequest& request,
                                                   v1::CreateDefectResponse* response) {
  PM_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  NewDefectInput input = NewDefectInputFromProto(request.defect());
  std::optional<DefectCategory> category;
  if (IsPlantCode(input.category_code)) {
    PM_ASSIGN_OR_RETURN(category, store_->FindCategory(input.category_code));
  }
  const absl::Time now = deps_.now();
  PM_ASSIGN_OR_RETURN(Defect draft, NewDefect(input, category, call.identity, now));
  // Without a request id there is nothing to deduplicate by: this call stands alone.
  const std::string request_id =
      request.request_id().empty() ? common::NewUuidV4() : request.request_id();
  v1::CreateDefectRequest fingerprint = request;
  fingerprint.clear_request_id();
  PM_ASSIGN_OR_RETURN(Defect created, store_->CreateDefect(
                                          draft, common::Sha256Hex(fingerprint.SerializeAsString()),
                                          ChangeContext{request_id, call.identity, now}));
  EventsCommitted();
  ToProto(created, response->mutable_defect());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleGetDefect(runtime::CallContext& call,
                                                const v1::GetDefectRequest& request,
                                                v1::GetDefectResponse* response) {
  PM_ASSIGN_OR_RETURN(int64_t id, ParseDefectId(request.id(), "id"));
  PM_ASSIGN_OR_RETURN(Defect defect, store_->GetDefect(id));
  ToProto(defect, response->mutable_defect());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleListDefects(runtime::CallContext& call,
                                                  const v1::ListDefectsRequest& request,
                                                  v1::ListDefectsResponse* response) {
  PM_ASSIGN_OR_RETURN(ListQuery query, MakeListQuery(FromProto(request)));
  PM_ASSIGN_OR_RETURN(ListPage page, store_->ListDefects(query));
  for (const Defect& defect : page.defects) ToProto(defect, response->add_defects());
  if (page.more && !page.defects.empty()) {
    response->set_next_page_token(EncodePageToken(query, page.defects.back()));
  }
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleUpdateDefect(runtime::CallContext& call,
                                                   const v1::UpdateDefectRequest& request,
                                                   v1::UpdateDefectResponse* response) {
  // Checked here to name the field as the request spells it; Transition parses it again.
  PM_RETURN_IF_ERROR(ParseDefectId(request.defect().id(), "defect.id").status());
  PM_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  const std::vector<std::string> paths(request.update_mask().paths().begin(),
                                       request.update_mask().paths().end());
  NewDefectInput input = NewDefectInputFromProto(request.defect());
  std::optional<DefectCategory> category;
  if (std::find(paths.begin(), paths.end(), "category_code") != paths.end() &&
      IsPlantCode(input.category_code)) {
    PM_ASSIGN_OR_RETURN(category, store_->FindCategory(input.category_code));
  }
  PM_RETURN_IF_ERROR(ValidateUpdate(input, paths, request.etag(), category));
  const absl::Time now = deps_.now();
  return Transition(
      call, request.defect().id(), request.etag(), request.request_id(), ChangeType::kUpdated,
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(current, input, paths, now));
        return Mutation{std::move(after), ChangeType::kUpdated, ""};
      },
      response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleAssignDefect(runtime::CallContext& call,
                                                   const v1::AssignDefectRequest& request,
                                                   v1::AssignDefectResponse* response) {
  const AssignInput input{request.repair_place_id(), request.mechanic_id()};
  PM_RETURN_IF_ERROR(ValidateAssign(input));
  const absl::Time now = deps_.now();
  return Transition(
      call, request.id(), request.etag(), request.request_id(), ChangeType::kAssigned,
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::Assign(current, input, call.identity, now));
        return Mutation{std::move(after), ChangeType::kAssigned, ""};
      },
      response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleStartRepair(runtime::CallContext& call,
                                                  const v1::StartRepairRequest& request,
                                                  v1::StartRepairResponse* response) {
  const absl::Time now = deps_.now();
  return Transition(
      call, request.id(), request.etag(), request.request_id(), ChangeType::kRepairStarted,
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::StartRepair(current, call.identity, now));
        return Mutation{std::move(after), ChangeType::kRepairStarted, ""};
      },
      response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleFinishRepair(runtime::CallContext& call,
                                                   const v1::FinishRepairRequest& request,
                                                   v1::FinishRepairResponse* response) {
  const FinishInput input{request.work_done(), request.labor_minutes()};
  PM_RETURN_IF_ERROR(ValidateFinish(input));
  const absl::Time now = deps_.now();
  return Transition(
      call, request.id(), request.etag(), request.request_id(), ChangeType::kRepairFinished,
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::FinishRepair(current, input, call.identity, now));
        return Mutation{std::move(after), ChangeType::kRepairFinished, ""};
      },
      response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleVerifyRepair(runtime::CallContext& call,
                                                   const v1::VerifyRepairRequest& request,
                                                   v1::VerifyRepairResponse* response) {
  const VerifyInput input{static_cast<QcDecision>(request.decision()), request.reason()};
  PM_RETURN_IF_ERROR(ValidateVerify(input));
  const absl::Time now = deps_.now();
  const ChangeType type = input.decision == QcDecision::kAccept ? ChangeType::kRepairAccepted
                                                                : ChangeType::kRepairRejected;
  return Transition(
      call, request.id(), request.etag(), request.request_id(), type,
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::VerifyRepair(current, input, call.identity, now));
        return Mutation{std::move(after), type, input.reason};
      },
      response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleCancelDefect(runtime::CallContext& call,
                                                   const v1::CancelDefectRequest& request,
                                                   v1::CancelDefectResponse* response) {
  PM_RETURN_IF_ERROR(ValidateCancel(request.reason()));
  const absl::Time now = deps_.now();
  return Transition(
      call, request.id(), request.etag(), request.request_id(), ChangeType::kCancelled,
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after,
                            defect::Cancel(current, request.reason(), call.identity, now));
        return Mutation{std::move(after), ChangeType::kCancelled, request.reason()};
      },
      response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleGetDefectHistory(runtime::CallContext& call,
                                                       const v1::GetDefectHistoryRequest& request,
                                                       v1::GetDefectHistoryResponse* response) {
  PM_ASSIGN_OR_RETURN(int64_t id, ParseDefectId(request.id(), "id"));
  PM_ASSIGN_OR_RETURN(std::vector<HistoryEntry> entries, store_->GetHistory(id));
  for (const HistoryEntry& entry : entries) ToProto(entry, response->add_entries());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleWatchDefects(
    runtime::CallContext& call, const v1::WatchDefectsRequest& request,
    grpc::ServerWriter<v1::WatchDefectsResponse>* writer) {
  runtime::EventStreamReader reader(deps_.redis, kEventStreamKey);
  PM_ASSIGN_OR_RETURN(std::string cursor, reader.Resolve(request.cursor()));
  RecentIds recent(4096);
  while (!call.Cancelled()) {
    absl::StatusOr<std::vector<runtime::StreamEntry>> entries =
        reader.ReadAfter(cursor, kWatchBlock, kWatchBatch);
    if (!entries.ok()) {
      if (entries.status().code() != absl::StatusCode::kUnavailable) return entries.status();
      // Redis is away: keep the stream open and continue from `cursor` when it returns.
      SleepUnlessCancelled(call, kRedisRetry);
      continue;
    }
    for (runtime::StreamEntry& entry : *entries) {
      cursor = entry.cursor;
      if (!recent.Insert(entry.event_id)) continue;
      v1::WatchDefectsResponse response;
      v1::DefectEvent* event = response.mutable_event();
      if (!event->ParseFromString(entry.payload)) {
        return absl::DataLossError(absl::StrCat("event at cursor ", entry.cursor,
                                                " is not a plantmesh.defect.v1.DefectEvent"));
      }
      if (!request.zone().empty() && event->defect().zone() != request.zone()) continue;
      event->set_cursor(entry.cursor);
      if (!writer->Write(response)) return absl::OkStatus();  // the client left
    }
  }
  if (runtime::Draining()) {
    return absl::UnavailableError(absl::StrCat("server draining; resume with cursor ", cursor));
  }
  return absl::CancelledError(absl::StrCat("watch ended (cancelled or deadline); cursor ", cursor));
}

absl::Status DefectServiceImpl::HandleUploadDefectPhoto(
    runtime::CallContext& call, runtime::RequestReader<v1::UploadDefectPhotoRequest>* reader,
    v1::UploadDefectPhotoResponse* response) {
  v1::UploadDefectPhotoRequest message;
  if (!reader->Read(&message) || !message.has_metadata()) {
    return runtime::InvalidField("metadata", "the first message must carry the photo's metadata");
  }
  const v1::PhotoUpload metadata = message.metadata();
  // The audit record of this client stream: which photo for which defect, even when
  // the upload fails below.
  call.SetAuditDetail(metadata);
  PM_RETURN_IF_ERROR(CheckRequestId(metadata.request_id()));
  PM_RETURN_IF_ERROR(ValidatePhotoUpload(FromProto(metadata), PhotoMaxBytes()));
  PM_ASSIGN_OR_RETURN(int64_t defect_id, ParseDefectId(metadata.defect_id(), "metadata.defect_id"));
  // Refuse before receiving megabytes for a defect that does not exist.
  PM_RETURN_IF_ERROR(store_->GetDefect(defect_id).status());

  const auto declared = static_cast<size_t>(metadata.size_bytes());
  std::string bytes;
  bytes.reserve(declared);
  common::Sha256 sha;
  while (reader->Read(&message)) {
    if (call.Cancelled()) return absl::CancelledError("upload cancelled");
    if (!message.has_chunk()) {
      return runtime::InvalidField("chunk", "after the metadata only chunks may follow");
    }
    const std::string& chunk = message.chunk();
    if (chunk.size() > kMaxUploadChunk) {
      return runtime::InvalidField(
          "chunk",
          absl::StrCat("at most ", kMaxUploadChunk, " bytes per chunk (got ", chunk.size(), ")"));
    }
    if (bytes.size() + chunk.size() > declared) {
      return runtime::InvalidField("metadata.size_bytes",
                                   absl::StrCat("more bytes arrived than the declared ", declared));
    }
    bytes.append(chunk);
    sha.Update(chunk);
  }
  if (call.Cancelled()) return absl::CancelledError("upload cancelled");
  if (bytes.size() != declared) {
    return runtime::InvalidField(
        "metadata.size_bytes",
        absl::StrCat("declared ", declared, " bytes, received ", bytes.size()));
  }
  const std::string digest = sha.HexDigest();
  if (digest != metadata.sha256()) {
    return runtime::InvalidField(
        "metadata.sha256",
        absl::StrCat("does not match the bytes received (their SHA-256 is ", digest, ")"));
  }
  NewPhoto photo{defect_id,         metadata.content_type(), metadata.size_bytes(),
                 metadata.sha256(), metadata.file_name(),    std::move(bytes)};
  PM_ASSIGN_OR_RETURN(Photo stored, store_->AddPhoto(photo, Context(call, metadata.request_id())));
  EventsCommitted();
  ToProto(stored, response->mutable_photo());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleDownloadDefectPhoto(
    runtime::CallContext& call, const v1::DownloadDefectPhotoRequest& request,
    grpc::ServerWriter<v1::DownloadDefectPhotoResponse>* writer) {
  PM_ASSIGN_OR_RETURN(int64_t defect_id, ParseDefectId(request.defect_id(), "defect_id"));
  PM_ASSIGN_OR_RETURN(PhotoContent content, store_->GetPhoto(defect_id, request.photo_id()));
  v1::DownloadDefectPhotoResponse first;
  ToProto(content.photo, first.mutable_photo());
  if (!writer->Write(first)) return absl::CancelledError("client left");
  for (size_t offset = 0; offset < content.bytes.size(); offset += kDownloadChunk) {
    if (call.Cancelled()) return absl::CancelledError("download cancelled");
    v1::DownloadDefectPhotoResponse chunk;
    chunk.set_chunk(content.bytes.substr(offset, kDownloadChunk));
    if (!writer->Write(chunk)) return absl::CancelledError("client left");
  }
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleCreateRepairPlace(runtime::CallContext& call,
                                                        const v1::CreateRepairPlaceRequest& request,
                                                        v1::CreateRepairPlaceResponse* response) {
  RepairPlace place = FromProto(request.repair_place());
  PM_RETURN_IF_ERROR(ValidateRepairPlace(place));
  PM_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  PM_ASSIGN_OR_RETURN(RepairPlace created, store_->CreateRepairPlace(place, request.request_id()));
  ToProto(created, response->mutable_repair_place());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleListRepairPlaces(runtime::CallContext& call,
                                                       const v1::ListRepairPlacesRequest& request,
                                                       v1::ListRepairPlacesResponse* response) {
  PM_ASSIGN_OR_RETURN(std::vector<RepairPlace> places, store_->ListRepairPlaces(request.zone()));
  for (const RepairPlace& place : places) ToProto(place, response->add_repair_places());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleCreateCrew(runtime::CallContext& call,
                                                 const v1::CreateCrewRequest& request,
                                                 v1::CreateCrewResponse* response) {
  Crew crew = FromProto(request.crew());
  PM_RETURN_IF_ERROR(ValidateCrew(crew));
  PM_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  PM_ASSIGN_OR_RETURN(Crew created, store_->CreateCrew(crew, request.request_id()));
  ToProto(created, response->mutable_crew());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleListCrews(runtime::CallContext& call,
                                                const v1::ListCrewsRequest& request,
                                                v1::ListCrewsResponse* response) {
  PM_ASSIGN_OR_RETURN(std::vector<Crew> crews, store_->ListCrews(request.zone()));
  for (const Crew& crew : crews) ToProto(crew, response->add_crews());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleCreateMechanic(runtime::CallContext& call,
                                                     const v1::CreateMechanicRequest& request,
                                                     v1::CreateMechanicResponse* response) {
  Mechanic mechanic = FromProto(request.mechanic());
  PM_RETURN_IF_ERROR(ValidateMechanic(mechanic));
  PM_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  PM_ASSIGN_OR_RETURN(Mechanic created, store_->CreateMechanic(mechanic, request.request_id()));
  ToProto(created, response->mutable_mechanic());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleListMechanics(runtime::CallContext& call,
                                                    const v1::ListMechanicsRequest& request,
                                                    v1::ListMechanicsResponse* response) {
  PM_ASSIGN_OR_RETURN(std::vector<Mechanic> mechanics, store_->ListMechanics(request.crew_id()));
  for (const Mechanic& mechanic : mechanics) ToProto(mechanic, response->add_mechanics());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleCreateDefectCategory(
    runtime::CallContext& call, const v1::CreateDefectCategoryRequest& request,
    v1::CreateDefectCategoryResponse* response) {
  DefectCategory category = FromProto(request.category());
  PM_RETURN_IF_ERROR(ValidateCategory(category));
  PM_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  PM_ASSIGN_OR_RETURN(DefectCategory created,
                      store_->CreateCategory(category, request.request_id()));
  ToProto(created, response->mutable_category());
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleListDefectCategories(
    runtime::CallContext& call, const v1::ListDefectCategoriesRequest& request,
    v1::ListDefectCategoriesResponse* response) {
  PM_ASSIGN_OR_RETURN(std::vector<DefectCategory> categories, store_->ListCategories());
  for (const DefectCategory& category : categories) ToProto(category, response->add_categories());
  return absl::OkStatus();
}

}  // namespace plantmesh::defect
