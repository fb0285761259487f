#include "server/defect/service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/uuid.h"
#include "server/defect/config.h"
#include "server/defect/convert.h"
#include "server/defect/domain.h"
#include "server/runtime/chunked_transfer.h"
#include "server/runtime/errors.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/key_pages.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/page_fit.h"
#include "server/runtime/page_token.h"
#include "server/runtime/replay_answer.h"
#include "server/runtime/stream_cursor.h"
#include "server/runtime/transfer_watchdog.h"
#include "server/runtime/watch.h"

namespace plantmesh::defect {
namespace {

using runtime::Answer;
using runtime::EncoderOf;

// The event parsed once for all watchers (null when it is not a DefectEvent).
absl::StatusOr<const v1::DefectEvent*> DecodedEvent(const runtime::StreamEvent& entry) {
  const v1::DefectEvent* decoded = entry.Decoded<v1::DefectEvent>();
  if (decoded == nullptr) {
    return absl::DataLossError(absl::StrCat("event at cursor ", entry.cursor,
                                            " is not a plantmesh.defect.v1.DefectEvent"));
  }
  return decoded;
}

// Which response a watcher of `zone` (empty: every zone) gets for one event of the
// defect stream: its filter_change as the variant, or kSkipEvent when the change neither
// was nor is in its zone; a change that moved a defect into or out of it is sent with
// filter_change saying which.
absl::StatusOr<int> WatchVariantOf(const runtime::StreamEvent& entry, const std::string& zone) {
  PM_ASSIGN_OR_RETURN(const v1::DefectEvent* decoded, DecodedEvent(entry));
  if (zone.empty()) return v1::FILTER_CHANGE_UNSPECIFIED;
  // previous_zone is set only when the change moved the defect between zones.
  const bool now_in = decoded->defect().zone() == zone;
  const bool was_in = decoded->previous_zone().empty() ? now_in : decoded->previous_zone() == zone;
  if (!now_in && !was_in) return runtime::kSkipEvent;
  if (now_in == was_in) return v1::FILTER_CHANGE_UNSPECIFIED;
  return now_in ? v1::FILTER_CHANGE_ENTERED : v1::FILTER_CHANGE_LEFT;
}

// An event and its filter_change into a response or one of its `changes` (the same two
// fields).
template <class Change>
absl::Status FillChange(const runtime::StreamEvent& entry, int filter_change, Change* change) {
  PM_ASSIGN_OR_RETURN(const v1::DefectEvent* decoded, DecodedEvent(entry));
  v1::DefectEvent* event = change->mutable_event();
  *event = *decoded;
  event->set_cursor(entry.cursor);
  change->set_filter_change(static_cast<v1::FilterChange>(filter_change));
  return absl::OkStatus();
}

// One variant (its filter_change) of the response to an event: built and serialized once
// for every watcher that selects it.
absl::Status BuildWatchResponse(const runtime::StreamEvent& entry, int filter_change,
                                v1::WatchDefectsResponse* response) {
  return FillChange(entry, filter_change, response);
}

// The same as one of several changes of a response: appended to `changes`, nothing else
// set, so that the parts of several events concatenate into one response.
absl::Status BuildWatchResponsePart(const runtime::StreamEvent& entry, int filter_change,
                                    v1::WatchDefectsResponse* response) {
  v1::WatchDefectsResponse::Change change;
  PM_RETURN_IF_ERROR(FillChange(entry, filter_change, &change));
  *response->add_changes() = std::move(change);
  return absl::OkStatus();
}

}  // namespace

DefectServiceImpl::DefectServiceImpl(const runtime::ServiceDeps& deps, DefectStore* store)
    : v1::DefectServiceBase(deps.call_policy, deps.executor), deps_(deps), store_(store) {}

ChangeContext DefectServiceImpl::Context(runtime::CallContext& call,
                                         const google::protobuf::Message& request,
                                         std::optional<absl::Time> now) const {
  return ChangeContext{runtime::IdempotencyKeyOf(call, request), now ? *now : deps_.now(),
                       DefectOutboxEvent, call.AuditOfChange(request)};
}

void DefectServiceImpl::EventsCommitted() {
  if (deps_.relay != nullptr) deps_.relay->Notify();
}

int64_t DefectServiceImpl::PhotoMaxBytes() const {
  const auto* config = dynamic_cast<const DefectConfig*>(deps_.service_config);
  return config != nullptr ? config->photo_max_bytes : DefectConfig().photo_max_bytes;
}

absl::Status DefectServiceImpl::Transition(runtime::CallContext& call,
                                           const google::protobuf::Message& request, absl::Time now,
                                           const std::string& id, const std::string& etag,
                                           const absl::Status& request_check,
                                           const FactsWanted& wanted, const Mutator& mutator,
                                           google::protobuf::Message* response, v1::Defect* out) {
  // One answer for every wrong field: the id, the etag, the method's own (request_check).
  runtime::Violations v;
  const absl::StatusOr<int64_t> defect_id = ParseDefectId(id, "id");
  PM_RETURN_IF_ERROR(v.Take(defect_id.status()));
  PM_RETURN_IF_ERROR(v.Take(kDefectEtag.CheckForm("etag", etag, /*required=*/false)));
  PM_RETURN_IF_ERROR(v.Take(request_check));
  PM_RETURN_IF_ERROR(v.ToStatus());
  const ChangeContext context = Context(call, request, now);
  // `out` is part of `response`: the recorded answer is the whole response.
  const ResponseEncoder<Defect> encode = [&](const Defect& after) {
    ToProto(after, out);
    return response->SerializeAsString();
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<Defect> answer,
      store_->MutateDefect(
          *defect_id, context, wanted,
          [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
            PM_RETURN_IF_ERROR(CheckEtag(current, etag, /*required=*/false));
            return mutator(current, facts);
          },
          encode));
  EventsCommitted();
  return Answer(answer, response, [&](const Defect& after) { ToProto(after, out); });
}

absl::Status DefectServiceImpl::HandleCreateDefect(runtime::CallContext& call,
                                                   const v1::CreateDefectRequest& request,
                                                   v1::CreateDefectResponse* response) {
  NewDefectInput input = NewDefectInputFromProto(request.defect());
  std::optional<DefectCategory> category;
  if (IsPlantCode(input.category_code)) {
    PM_ASSIGN_OR_RETURN(category, store_->FindCategory(input.category_code));
  }
  const ChangeContext context = Context(call, request);
  PM_ASSIGN_OR_RETURN(Defect draft, NewDefect(input, category, call.identity, context.now));
  auto fill = [](const Defect& created, v1::CreateDefectResponse* out) {
    ToProto(created, out->mutable_defect());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<Defect> answer,
      store_->CreateDefect(draft, context, EncoderOf<v1::CreateDefectResponse, Defect>(fill)));
  EventsCommitted();
  return Answer(answer, response, [&](const Defect& created) { fill(created, response); });
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
  // Read before the list's snapshot is taken: a change committed after the snapshot is
  // published after it, so watching from here misses nothing the page does not show.
  std::string watch_cursor;
  if (deps_.events != nullptr) {
    absl::StatusOr<std::string> cursor = deps_.events->CurrentCursor(kEventStreamKey);
    if (cursor.ok()) watch_cursor = *std::move(cursor);  // empty: the stream is away
  }
  PM_ASSIGN_OR_RETURN(ListPage page, store_->ListDefects(query));
  for (const Defect& defect : page.defects) ToProto(defect, response->add_defects());
  response->set_watch_cursor(watch_cursor);
  runtime::EndPage(response, response->mutable_defects(), page.defects.size(), page.more,
                   deps_.config, [&](size_t i) { return EncodePageToken(query, page.defects[i]); });
  return absl::OkStatus();
}

absl::Status DefectServiceImpl::HandleUpdateDefect(runtime::CallContext& call,
                                                   const v1::UpdateDefectRequest& request,
                                                   v1::UpdateDefectResponse* response) {
  // The id checked here to name the field as the request spells it; Transition parses it
  // again.
  runtime::Violations v;
  PM_RETURN_IF_ERROR(v.Take(ParseDefectId(request.defect().id(), "defect.id").status()));
  const std::vector<std::string> paths(request.update_mask().paths().begin(),
                                       request.update_mask().paths().end());
  NewDefectInput input = NewDefectInputFromProto(request.defect());
  std::optional<DefectCategory> category;
  if (std::find(paths.begin(), paths.end(), "category_code") != paths.end() &&
      IsPlantCode(input.category_code)) {
    PM_ASSIGN_OR_RETURN(category, store_->FindCategory(input.category_code));
  }
  PM_RETURN_IF_ERROR(v.Take(ValidateUpdate(input, paths, request.etag(), category)));
  PM_RETURN_IF_ERROR(v.ToStatus());
  const absl::Time now = deps_.now();
  return Transition(
      call, request, now, request.defect().id(), request.etag(), absl::OkStatus(), FactsWanted{},
      [&](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(current, input, paths, now));
        return Mutation{std::move(after), ChangeType::kUpdated, ""};
      },
      response, response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleAssignDefect(runtime::CallContext& call,
                                                   const v1::AssignDefectRequest& request,
                                                   v1::AssignDefectResponse* response) {
  const AssignInput input{request.repair_place_id(), request.mechanic_id()};
  const absl::Time now = deps_.now();
  return Transition(
      call, request, now, request.id(), request.etag(), ValidateAssign(input), AssignFacts(input),
      [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::Assign(current, input, call.identity, now));
        PM_RETURN_IF_ERROR(CheckAssignTargets(input, facts));
        return Mutation{std::move(after), ChangeType::kAssigned, ""};
      },
      response, response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleStartRepair(runtime::CallContext& call,
                                                  const v1::StartRepairRequest& request,
                                                  v1::StartRepairResponse* response) {
  const absl::Time now = deps_.now();
  const Caller caller{call.identity, call.roles};
  return Transition(
      call, request, now, request.id(), request.etag(), absl::OkStatus(), StartRepairFacts(),
      [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::StartRepair(current, call.identity, now));
        // Who may: the assigned mechanic, or a foreman/admin override (noted in history).
        PM_ASSIGN_OR_RETURN(std::string note,
                            CheckRepairWorker(current, defect::Transition::kStartRepair, caller,
                                              facts.assigned_mechanic_identity));
        PM_RETURN_IF_ERROR(CheckRepairPlaceFree(current, facts));
        return Mutation{std::move(after), ChangeType::kRepairStarted, std::move(note)};
      },
      response, response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleFinishRepair(runtime::CallContext& call,
                                                   const v1::FinishRepairRequest& request,
                                                   v1::FinishRepairResponse* response) {
  const FinishInput input{request.work_done(), request.labor_minutes()};
  const absl::Time now = deps_.now();
  const Caller caller{call.identity, call.roles};
  return Transition(
      call, request, now, request.id(), request.etag(), ValidateFinish(input), FactsWanted{},
      [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, defect::FinishRepair(current, input, call.identity, now));
        PM_ASSIGN_OR_RETURN(std::string note,
                            CheckRepairWorker(current, defect::Transition::kFinishRepair, caller,
                                              facts.assigned_mechanic_identity));
        return Mutation{std::move(after), ChangeType::kRepairFinished, std::move(note)};
      },
      response, response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleVerifyRepair(runtime::CallContext& call,
                                                   const v1::VerifyRepairRequest& request,
                                                   v1::VerifyRepairResponse* response) {
  const VerifyInput input{static_cast<QcDecision>(request.decision()), request.reason()};
  const absl::Time now = deps_.now();
  const ChangeType type = input.decision == QcDecision::kAccept ? ChangeType::kRepairAccepted
                                                                : ChangeType::kRepairRejected;
  return Transition(
      call, request, now, request.id(), request.etag(), ValidateVerify(input), FactsWanted{},
      [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after,
                            defect::VerifyRepair(current, input, call.identity,
                                                 facts.assigned_mechanic_identity, now));
        return Mutation{std::move(after), type, input.reason};
      },
      response, response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleCancelDefect(runtime::CallContext& call,
                                                   const v1::CancelDefectRequest& request,
                                                   v1::CancelDefectResponse* response) {
  const absl::Time now = deps_.now();
  return Transition(
      call, request, now, request.id(), request.etag(), ValidateCancel(request.reason()),
      FactsWanted{},
      [&](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after,
                            defect::Cancel(current, request.reason(), call.identity, now));
        return Mutation{std::move(after), ChangeType::kCancelled, request.reason()};
      },
      response, response->mutable_defect());
}

absl::Status DefectServiceImpl::HandleGetDefectHistory(runtime::CallContext& call,
                                                       const v1::GetDefectHistoryRequest& request,
                                                       v1::GetDefectHistoryResponse* response) {
  const absl::StatusOr<int64_t> id = ParseDefectId(request.id(), "id");
  // Pages continue after an entry's sequence, for this defect only. (A bad id is answered
  // with the page fields' faults; nothing is read then.)
  return runtime::ServeNumberedPage(
      request, "GetDefectHistory",
      runtime::FilterFingerprint().AddRaw(id.ok() ? absl::StrCat(*id) : request.id()), deps_.config,
      [&](int64_t after, size_t limit) { return store_->GetHistory(*id, after, limit); },
      [](const HistoryEntry& entry) { return entry.sequence; }, response,
      response->mutable_entries(), id.status());
}

absl::StatusOr<std::unique_ptr<DefectServiceImpl::WatchDefectsSource>>
DefectServiceImpl::HandleWatchDefects(runtime::CallContext& call,
                                      const v1::WatchDefectsRequest& request) {
  // Each wrong field in one answer: the cursor's form beside the rest.
  runtime::Violations violations;
  const absl::StatusOr<int> changes_per_response =
      ChangesPerWatchResponse(request.max_changes_per_response());
  PM_RETURN_IF_ERROR(violations.Take(changes_per_response.status()));
  PM_RETURN_IF_ERROR(violations.Take(runtime::StreamCursor::Parse(request.cursor()).status()));
  PM_RETURN_IF_ERROR(violations.ToStatus());
  runtime::SharedWatchResponses<v1::WatchDefectsResponse> responses;
  responses.select = [zone = request.zone()](const runtime::StreamEvent& entry) {
    return WatchVariantOf(entry, zone);
  };
  responses.build = &BuildWatchResponse;
  if (*changes_per_response > 1) {
    responses.build_part = &BuildWatchResponsePart;
    responses.max_events_per_response = static_cast<size_t>(*changes_per_response);
    // Half the send limit for the events, so that a response with their cursors and
    // framing stays within it (1 MiB with the default 4 MiB).
    responses.max_payload_bytes =
        std::min<size_t>(responses.max_payload_bytes, runtime::MaxSendBytes(deps_.config) / 2);
  }
  return runtime::OpenSharedWatch<v1::WatchDefectsResponse>(deps_.events, kEventStreamKey,
                                                            request.cursor(), std::move(responses));
}

// The upload's state between messages: its metadata, then the bytes so far
// (runtime::ChunkedUpload, charged to the upload memory budget).
class DefectServiceImpl::PhotoUpload final : public UploadDefectPhotoSink {
 public:
  PhotoUpload(DefectServiceImpl* service, runtime::CallContext& call)
      : service_(service),
        call_(call),
        bytes_(service->deps_.upload_memory),
        idle_(runtime::WatchTransfer(service->deps_.transfers, call,
                                     runtime::TransferDirection::kUpload, "an upload of a photo")) {
  }

  absl::Status OnMessage(v1::UploadDefectPhotoRequest& message) override {
    if (idle_ != nullptr) idle_->Moved();
    if (!started_) {
      started_ = true;
      return Begin(message);
    }
    if (call_.Cancelled()) return absl::CancelledError("upload cancelled");
    // Named by what came instead of a chunk (outside testing: a second metadata was
    // reported on `chunk`).
    if (message.has_metadata()) {
      return runtime::InvalidField("metadata", "sent twice: only the first message carries it");
    }
    if (!message.has_chunk()) {
      return runtime::InvalidField(
          "chunk", "a message after the metadata carries no chunk (an empty message)");
    }
    PM_RETURN_IF_ERROR(bytes_.Append(message.chunk()));
    // The file signature as soon as its bytes are in (outside testing: a 2 MiB upload of
    // another type was received to its end, 20 s and its memory, before it was refused).
    if (!signature_checked_ && bytes_.received() >= kPhotoSignatureBytes) {
      signature_checked_ = true;
      return ValidatePhotoBytes(metadata_.content_type(),
                                bytes_.received_bytes().substr(0, kPhotoSignatureBytes));
    }
    return absl::OkStatus();
  }

  absl::Status OnReadsDone(v1::UploadDefectPhotoResponse* response) override {
    if (!started_) return MissingMetadata();
    if (call_.Cancelled()) return absl::CancelledError("upload cancelled");
    if (absl::Status finished = bytes_.Finish(metadata_.sha256()); !finished.ok()) {
      // Bytes that do not complete the photo are no retry of a stored upload: the defect's
      // own refusal comes first (outside testing: a CLOSED defect's upload without its
      // bytes was told to fix metadata.size_bytes, not that the defect takes no photo).
      return refusal_unless_retry_.ok() ? finished : refusal_unless_retry_;
    }
    std::string bytes = bytes_.TakeBytes();
    PM_RETURN_IF_ERROR(ValidatePhotoBytes(metadata_.content_type(), bytes));
    NewPhoto photo{defect_id_,         metadata_.content_type(), metadata_.size_bytes(),
                   metadata_.sha256(), metadata_.file_name(),    std::move(bytes)};
    // The metadata carries the request_id and, with sha256 and size, stands for the bytes.
    auto fill = [](const Photo& stored, v1::UploadDefectPhotoResponse* out) {
      ToProto(stored, out->mutable_photo());
    };
    PM_ASSIGN_OR_RETURN(
        Replayable<Photo> answer,
        service_->store_->AddPhoto(photo, service_->Context(call_, metadata_),
                                   EncoderOf<v1::UploadDefectPhotoResponse, Photo>(fill)));
    service_->EventsCommitted();
    return Answer(answer, response, [&](const Photo& stored) { fill(stored, response); });
  }

 private:
  static absl::Status MissingMetadata() {
    return runtime::InvalidField("metadata", "the first message must carry the photo's metadata");
  }

  // The first message: the photo's metadata, checked before any byte is accepted.
  absl::Status Begin(const v1::UploadDefectPhotoRequest& message) {
    if (!message.has_metadata()) return MissingMetadata();
    metadata_ = message.metadata();
    // The audit record of this client stream: which photo for which defect, even when
    // the upload fails below.
    call_.SetAuditDetail(metadata_);
    PM_RETURN_IF_ERROR(ValidatePhotoUpload(FromProto(metadata_), service_->PhotoMaxBytes()));
    PM_ASSIGN_OR_RETURN(defect_id_, ParseDefectId(metadata_.defect_id(), "metadata.defect_id"));
    // Refuse before receiving megabytes for a defect that does not exist or is full,
    // unless the call may be a stored upload's retry: the store answers it from its
    // request log first (the first response, or REQUEST_ID_REUSED for other bytes). A
    // photo of these bytes, or this request_id recorded, says so (outside testing: the
    // retry of the 100th photo's upload was refused PHOTO_LIMIT_REACHED, and so was a
    // stored upload's request_id with other bytes).
    PM_ASSIGN_OR_RETURN(Defect current, service_->store_->GetDefect(defect_id_));
    if (absl::Status room = CheckTakesPhoto(current); !room.ok()) {
      bool maybe_retry =
          std::any_of(current.photos.begin(), current.photos.end(),
                      [&](const Photo& photo) { return photo.sha256 == metadata_.sha256(); });
      if (!maybe_retry) {
        PM_ASSIGN_OR_RETURN(maybe_retry, service_->store_->IsRequestRecorded(
                                             runtime::IdempotencyKeyOf(call_, metadata_)));
      }
      if (!maybe_retry) return room;
      refusal_unless_retry_ = room;
    }
    bytes_.Declare(static_cast<size_t>(metadata_.size_bytes()));
    return absl::OkStatus();
  }

  DefectServiceImpl* service_;
  runtime::CallContext& call_;
  bool started_ = false;            // the first message (metadata) was taken
  bool signature_checked_ = false;  // the first kPhotoSignatureBytes were judged
  v1::PhotoUpload metadata_;
  int64_t defect_id_ = 0;
  // The defect's refusal (frozen, full) of an upload taken because it may be a stored
  // upload's retry, which the store answers once the bytes are in.
  absl::Status refusal_unless_retry_;
  // The bytes so far, charged to the process-wide upload budget (upload-memory-bytes)
  // until the call ends, however it ends (the runtime destroys the sink then).
  runtime::ChunkedUpload bytes_;
  // Ends the upload when its client stops sending (transfer-idle-seconds).
  std::unique_ptr<runtime::TransferWatchdog::Watch> idle_;
};

absl::StatusOr<std::unique_ptr<DefectServiceImpl::UploadDefectPhotoSink>>
DefectServiceImpl::HandleUploadDefectPhoto(runtime::CallContext& call) {
  return std::make_unique<PhotoUpload>(this, call);
}

absl::StatusOr<std::unique_ptr<DefectServiceImpl::DownloadDefectPhotoSource>>
DefectServiceImpl::HandleDownloadDefectPhoto(runtime::CallContext& call,
                                             const v1::DownloadDefectPhotoRequest& request) {
  runtime::Violations v;
  const absl::StatusOr<int64_t> parsed_id = ParseDefectId(request.defect_id(), "defect_id");
  PM_RETURN_IF_ERROR(v.Take(parsed_id.status()));
  PM_RETURN_IF_ERROR(v.Take(ParsePhotoId(request.photo_id()).status()));
  PM_RETURN_IF_ERROR(v.ToStatus());
  const int64_t defect_id = *parsed_id;
  // The photo's bytes are held until its last chunk is sent, however slowly the client
  // reads: charged to the process-wide download budget (download-memory-bytes) before they
  // are read, by the size its metadata gives (outside testing: 300 downloads of a 10 MiB
  // photo whose client read nothing held 2.8 GB).
  auto memory = std::make_shared<runtime::MemoryBudget::Reservation>(
      runtime::MemoryBudget::Open(deps_.download_memory));
  auto charge = [&](int64_t bytes) -> absl::Status {
    if (deps_.download_memory != nullptr && bytes > deps_.download_memory->capacity()) {
      // Never sendable, not "retry later": a photo stored under a larger photo-max-bytes.
      return absl::FailedPreconditionError(absl::StrCat(
          "photo ", request.photo_id(), " is ", bytes,
          " bytes, more than this server may hold for downloads (download-memory-bytes ",
          deps_.download_memory->capacity(), ")"));
    }
    return memory->Grow(bytes - memory->bytes());
  };
  PM_ASSIGN_OR_RETURN(Defect defect, store_->GetDefect(defect_id));
  for (const Photo& listed : defect.photos) {
    if (listed.id == request.photo_id()) PM_RETURN_IF_ERROR(charge(listed.size_bytes));
  }
  PM_ASSIGN_OR_RETURN(PhotoContent content, store_->GetPhoto(defect_id, request.photo_id()));
  const auto held = static_cast<int64_t>(content.bytes.size());
  if (held > memory->bytes()) PM_RETURN_IF_ERROR(charge(held));
  // The photo's metadata, then its bytes in chunks, each made when the client has room.
  auto photo = std::make_shared<const PhotoContent>(std::move(content));
  // Ends the download when its client stops reading (transfer-idle-seconds): the next
  // chunk is made when the client has room for it.
  std::shared_ptr<runtime::TransferWatchdog::Watch> idle =
      runtime::WatchTransfer(deps_.transfers, call, runtime::TransferDirection::kDownload,
                             absl::StrCat("a download of photo ", request.photo_id()));
  return runtime::SourceFrom<v1::DownloadDefectPhotoResponse>(
      [&call, photo, held_until_the_call_ends = std::move(memory), idle,
       chunks = runtime::ChunkedDownload(std::shared_ptr<const std::string>(photo, &photo->bytes)),
       first = true](v1::DownloadDefectPhotoResponse* message) mutable -> absl::StatusOr<bool> {
        if (idle != nullptr) idle->Moved();
        if (first) {
          first = false;
          ToProto(photo->photo, message->mutable_photo());
          return true;
        }
        std::optional<absl::string_view> chunk = chunks.Next();
        if (!chunk) return false;
        if (call.Cancelled()) return absl::CancelledError("download cancelled");
        message->set_chunk(chunk->data(), chunk->size());
        return true;
      });
}

absl::Status DefectServiceImpl::HandleCreateRepairPlace(runtime::CallContext& call,
                                                        const v1::CreateRepairPlaceRequest& request,
                                                        v1::CreateRepairPlaceResponse* response) {
  RepairPlace place = FromProto(request.repair_place());
  PM_RETURN_IF_ERROR(ValidateRepairPlace(place));
  auto fill = [](const RepairPlace& created, v1::CreateRepairPlaceResponse* out) {
    ToProto(created, out->mutable_repair_place());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<RepairPlace> answer,
      store_->CreateRepairPlace(place, Context(call, request),
                                EncoderOf<v1::CreateRepairPlaceResponse, RepairPlace>(fill)));
  return Answer(answer, response, [&](const RepairPlace& created) { fill(created, response); });
}

absl::Status DefectServiceImpl::HandleListRepairPlaces(runtime::CallContext& call,
                                                       const v1::ListRepairPlacesRequest& request,
                                                       v1::ListRepairPlacesResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListRepairPlaces", runtime::FilterFingerprint().AddText(request.zone()),
      deps_.config, [&] { return store_->ListRepairPlaces(request.zone()); }, &RepairPlace::id,
      response, response->mutable_repair_places());
}

absl::Status DefectServiceImpl::HandleCreateCrew(runtime::CallContext& call,
                                                 const v1::CreateCrewRequest& request,
                                                 v1::CreateCrewResponse* response) {
  Crew crew = FromProto(request.crew());
  PM_RETURN_IF_ERROR(ValidateCrew(crew));
  auto fill = [](const Crew& created, v1::CreateCrewResponse* out) {
    ToProto(created, out->mutable_crew());
  };
  PM_ASSIGN_OR_RETURN(Replayable<Crew> answer,
                      store_->CreateCrew(crew, Context(call, request),
                                         EncoderOf<v1::CreateCrewResponse, Crew>(fill)));
  return Answer(answer, response, [&](const Crew& created) { fill(created, response); });
}

absl::Status DefectServiceImpl::HandleListCrews(runtime::CallContext& call,
                                                const v1::ListCrewsRequest& request,
                                                v1::ListCrewsResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListCrews", runtime::FilterFingerprint().AddText(request.zone()), deps_.config,
      [&] { return store_->ListCrews(request.zone()); }, &Crew::id, response,
      response->mutable_crews());
}

absl::Status DefectServiceImpl::HandleCreateMechanic(runtime::CallContext& call,
                                                     const v1::CreateMechanicRequest& request,
                                                     v1::CreateMechanicResponse* response) {
  Mechanic mechanic = FromProto(request.mechanic());
  runtime::Violations v;
  PM_RETURN_IF_ERROR(v.Take(ValidateMechanic(mechanic, deps_.config->trust_domain)));
  // Refused anyway: its crew is named too when there is none such (the store checks it in
  // the transaction otherwise; outside testing: a bad identity hid an unknown crew).
  if (!v.empty() && IsPlantCode(mechanic.crew_id)) {
    PM_ASSIGN_OR_RETURN(std::optional<Crew> crew, store_->FindCrew(mechanic.crew_id));
    PM_RETURN_IF_ERROR(v.Take(CheckMechanicFacts(mechanic, {crew.has_value(), ""})));
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  auto fill = [](const Mechanic& created, v1::CreateMechanicResponse* out) {
    ToProto(created, out->mutable_mechanic());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<Mechanic> answer,
      store_->CreateMechanic(mechanic, Context(call, request),
                             EncoderOf<v1::CreateMechanicResponse, Mechanic>(fill)));
  return Answer(answer, response, [&](const Mechanic& created) { fill(created, response); });
}

absl::Status DefectServiceImpl::HandleListMechanics(runtime::CallContext& call,
                                                    const v1::ListMechanicsRequest& request,
                                                    v1::ListMechanicsResponse* response) {
  // A crew filter names a crew (outside testing: an unknown one answered an empty list,
  // where CreateMechanic refuses it), named beside the page fields' faults.
  absl::Status crew_check = absl::OkStatus();
  if (!request.crew_id().empty()) {
    PM_ASSIGN_OR_RETURN(std::optional<Crew> crew, store_->FindCrew(request.crew_id()));
    if (!crew) {
      crew_check =
          runtime::InvalidField("crew_id", absl::StrCat("unknown crew '", request.crew_id(), "'"));
    }
  }
  return runtime::ServeWholeListPage(
      request, "ListMechanics", runtime::FilterFingerprint().AddText(request.crew_id()),
      deps_.config, [&] { return store_->ListMechanics(request.crew_id()); }, &Mechanic::id,
      response, response->mutable_mechanics(), crew_check);
}

absl::Status DefectServiceImpl::HandleCreateDefectCategory(
    runtime::CallContext& call, const v1::CreateDefectCategoryRequest& request,
    v1::CreateDefectCategoryResponse* response) {
  DefectCategory category = FromProto(request.category());
  PM_RETURN_IF_ERROR(ValidateCategory(category));
  auto fill = [](const DefectCategory& created, v1::CreateDefectCategoryResponse* out) {
    ToProto(created, out->mutable_category());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<DefectCategory> answer,
      store_->CreateCategory(category, Context(call, request),
                             EncoderOf<v1::CreateDefectCategoryResponse, DefectCategory>(fill)));
  return Answer(answer, response, [&](const DefectCategory& created) { fill(created, response); });
}

absl::Status DefectServiceImpl::HandleListDefectCategories(
    runtime::CallContext& call, const v1::ListDefectCategoriesRequest& request,
    v1::ListDefectCategoriesResponse* response) {
  return runtime::ServeWholeListPage(
      request, "ListDefectCategories", runtime::FilterFingerprint(), deps_.config,
      [&] { return store_->ListCategories(); }, &DefectCategory::code, response,
      response->mutable_categories());
}

}  // namespace plantmesh::defect
