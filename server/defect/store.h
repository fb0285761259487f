// The defect service's repository: what the handlers need from storage, independent of
// the database. Every change writes its history entry, its outbox event, its request
// log entry and the call's audit row (when the context carries one) in the same
// transaction as the change itself.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/defect/domain.h"
#include "server/runtime/audit.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/outbox_event.h"

namespace plantmesh::defect {

// What a change to an existing defect produces.
struct Mutation {
  Defect after;
  ChangeType change_type = ChangeType::kUnspecified;
  std::string comment;  // reason given with the change, or an override note (history)
};

// Computes the change from the current, locked defect and the facts read with it
// (DefectFacts in domain.h): etag check, transition rules, existence, a busy place.
// An error aborts the transaction: nothing is written.
using Mutator =
    std::function<absl::StatusOr<Mutation>(const Defect& current, const DefectFacts& facts)>;

// Builds the outbox event of a change once the store knows the stored defect (its id
// and version): the service's encoding (DefectOutboxEvent, convert.h); the store writes
// it as opaque bytes. `before`: the defect before the change, nullptr for a report.
using EventEncoder =
    std::function<runtime::OutboxEvent(ChangeType type, const Defect* before, const Defect& after,
                                       const std::string& actor, absl::Time when)>;

// The caller and request of a change (request.identity is the actor).
struct ChangeContext {
  runtime::IdempotencyKey request;
  absl::Time now;
  // Required by every change of a defect (without it the change fails, INTERNAL).
  EventEncoder encode_event;
  // The call's audit row, written with the change and marked written once it committed;
  // nullptr: the call is not audited with its change (runtime/audit.h). A retry answered
  // from the request log writes none (its call is audited on its own).
  runtime::ChangeAudit* audit = nullptr;
  const std::string& actor() const { return request.identity; }
};

// A change's result, or the recorded response of the first call with its request_id
// (runtime/idempotency.h). Every mutating method takes the encoder of its response.
template <typename T>
using Replayable = runtime::Replayable<T>;
template <typename T>
using ResponseEncoder = runtime::ResponseEncoder<T>;

struct ListPage {
  std::vector<Defect> defects;
  bool more = false;  // another page follows the last defect
};

struct PhotoContent {
  Photo photo;
  std::string bytes;
};

struct NewPhoto {
  int64_t defect_id = 0;
  std::string content_type;
  int64_t size_bytes = 0;
  std::string sha256;
  std::string file_name;
  std::string bytes;
};

// Idempotency, for every mutating method: with a request_id (context.request), the
// first call's change and its encoded response are recorded in the same transaction
// (the runtime's request log); a retry by the same caller of the same method with the
// same payload returns that response (recorded_response) and changes nothing, even if
// the resource changed since; a different payload is ALREADY_EXISTS REQUEST_ID_REUSED.
class DefectStore {
 public:
  virtual ~DefectStore() = default;

  // Stores a new defect (status REPORTED).
  virtual absl::StatusOr<Replayable<Defect>> CreateDefect(
      const Defect& defect, const ChangeContext& context,
      const ResponseEncoder<Defect>& encode) = 0;

  // NOT_FOUND when absent.
  virtual absl::StatusOr<Defect> GetDefect(int64_t id) = 0;

  // One page in the query's order, after query.after.
  virtual absl::StatusOr<ListPage> ListDefects(const ListQuery& query) = 0;

  // Locks the defect, reads the facts `wanted` (and always the assigned mechanic's
  // identity) and applies `mutator`, which decides: the store supplies facts and applies
  // no rule of its own. With wanted.repair_place_occupant the defect's repair place is
  // locked before its occupant is read, so repairs starting at one place are decided one
  // after the other (the database's unique index on busy places stays as a safety net,
  // FAILED_PRECONDITION REPAIR_PLACE_BUSY). A mutation that changes nothing (an edit or an
  // assignment giving what the defect has) writes nothing but its request log entry and
  // the audit. NOT_FOUND when absent.
  virtual absl::StatusOr<Replayable<Defect>> MutateDefect(
      int64_t id, const ChangeContext& context, const FactsWanted& wanted, const Mutator& mutator,
      const ResponseEncoder<Defect>& encode) = 0;

  // The entries after sequence `after_sequence` (0: from the first), oldest first, at
  // most `limit`: a page reads what it answers, never the whole history. NOT_FOUND when
  // the defect is absent.
  virtual absl::StatusOr<std::vector<HistoryEntry>> GetHistory(int64_t id, int64_t after_sequence,
                                                               size_t limit) = 0;

  // Attaches a photo (PHOTO_ADDED). NOT_FOUND when the defect is absent.
  virtual absl::StatusOr<Replayable<Photo>> AddPhoto(const NewPhoto& photo,
                                                     const ChangeContext& context,
                                                     const ResponseEncoder<Photo>& encode) = 0;
  virtual absl::StatusOr<PhotoContent> GetPhoto(int64_t defect_id, const std::string& photo_id) = 0;
  // Whether a call with `key` has committed (PgRequestLog::Recorded): a retry, which
  // AddPhoto answers from the request log even when the defect is full.
  virtual absl::StatusOr<bool> IsRequestRecorded(const runtime::IdempotencyKey& key) = 0;

  // Catalog and plant resources. An id that is taken is ALREADY_EXISTS naming the
  // resource.
  virtual absl::StatusOr<std::optional<DefectCategory>> FindCategory(const std::string& code) = 0;
  virtual absl::StatusOr<Replayable<DefectCategory>> CreateCategory(
      const DefectCategory& category, const ChangeContext& context,
      const ResponseEncoder<DefectCategory>& encode) = 0;
  virtual absl::StatusOr<std::vector<DefectCategory>> ListCategories() = 0;
  virtual absl::StatusOr<Replayable<RepairPlace>> CreateRepairPlace(
      const RepairPlace& place, const ChangeContext& context,
      const ResponseEncoder<RepairPlace>& encode) = 0;
  // With FREE/BUSY and the defect in repair, by id.
  virtual absl::StatusOr<std::vector<RepairPlace>> ListRepairPlaces(const std::string& zone) = 0;
  virtual absl::StatusOr<Replayable<Crew>> CreateCrew(const Crew& crew,
                                                      const ChangeContext& context,
                                                      const ResponseEncoder<Crew>& encode) = 0;
  virtual absl::StatusOr<std::vector<Crew>> ListCrews(const std::string& zone) = 0;
  virtual absl::StatusOr<std::optional<Crew>> FindCrew(const std::string& id) = 0;
  // Reads MechanicFacts in the transaction and stores the mechanic only when `rule`
  // (the domain's decision over them) is OK; its error is returned as it is.
  using MechanicRule = std::function<absl::Status(const MechanicFacts&)>;
  virtual absl::StatusOr<Replayable<Mechanic>> CreateMechanic(
      const Mechanic& mechanic, const ChangeContext& context,
      const ResponseEncoder<Mechanic>& encode, const MechanicRule& rule) = 0;
  // With the domain's rule, CheckMechanicFacts: INVALID_ARGUMENT (mechanic.crew_id) when
  // the crew does not exist, ALREADY_EXISTS when another mechanic has the identity.
  absl::StatusOr<Replayable<Mechanic>> CreateMechanic(const Mechanic& mechanic,
                                                      const ChangeContext& context,
                                                      const ResponseEncoder<Mechanic>& encode) {
    return CreateMechanic(mechanic, context, encode, [&mechanic](const MechanicFacts& facts) {
      return CheckMechanicFacts(mechanic, facts);
    });
  }
  virtual absl::StatusOr<std::vector<Mechanic>> ListMechanics(const std::string& crew_id) = 0;
};

}  // namespace plantmesh::defect
