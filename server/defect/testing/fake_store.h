// DefectStore in memory, for handler tests that test no SQL. It behaves as PgDefectStore
// does, observably: ids from 1 up, versions, history entries, photo numbers, list order
// and keyset paging, request_id idempotency (runtime::testing::MemoryRequestLog), the
// facts given to mutators, constraint outcomes and the events written. Times are kept
// to the microsecond, as PostgreSQL keeps them; what a change returns is what it
// computed, what a read returns is what was kept, as with PostgreSQL. Text is compared
// byte by byte (PostgreSQL's C collation, which the tests' clusters use).
//
// store_conformance_test.cc runs one suite against this store and PgDefectStore; a case
// where they differ is a bug in the fake.
//
// Thread-safe: one lock covers each call, which makes every change atomic as a
// transaction does; a mutator runs under it and must not call the store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/defect/store.h"
#include "server/runtime/audit.h"
#include "server/runtime/outbox_event.h"
#include "server/runtime/testing/memory_request_log.h"

namespace plantmesh::defect::testing {

// One event as the store was given it and PgDefectStore writes it to defect.outbox (the
// relay publishes `payload` byte for byte; the table keeps no `type`).
using OutboxEvent = runtime::OutboxEvent;

class FakeDefectStore : public DefectStore {
 public:
  FakeDefectStore() = default;

  // ---- DefectStore ----
  absl::StatusOr<Replayable<Defect>> CreateDefect(const Defect& defect,
                                                  const ChangeContext& context,
                                                  const ResponseEncoder<Defect>& encode) override;
  absl::StatusOr<Defect> GetDefect(int64_t id) override;
  absl::StatusOr<ListPage> ListDefects(const ListQuery& query) override;
  absl::StatusOr<Replayable<Defect>> MutateDefect(int64_t id, const ChangeContext& context,
                                                  const FactsWanted& wanted, const Mutator& mutator,
                                                  const ResponseEncoder<Defect>& encode) override;
  absl::StatusOr<std::vector<HistoryEntry>> GetHistory(int64_t id, int64_t after_sequence,
                                                       size_t limit) override;
  absl::StatusOr<Replayable<Photo>> AddPhoto(const NewPhoto& photo, const ChangeContext& context,
                                             const ResponseEncoder<Photo>& encode) override;
  absl::StatusOr<PhotoContent> GetPhoto(int64_t defect_id, const std::string& photo_id) override;
  absl::StatusOr<bool> IsRequestRecorded(const runtime::IdempotencyKey& key) override;
  absl::StatusOr<std::optional<DefectCategory>> FindCategory(const std::string& code) override;
  absl::StatusOr<Replayable<DefectCategory>> CreateCategory(
      const DefectCategory& category, const ChangeContext& context,
      const ResponseEncoder<DefectCategory>& encode) override;
  absl::StatusOr<std::vector<DefectCategory>> ListCategories() override;
  absl::StatusOr<Replayable<RepairPlace>> CreateRepairPlace(
      const RepairPlace& place, const ChangeContext& context,
      const ResponseEncoder<RepairPlace>& encode) override;
  absl::StatusOr<std::vector<RepairPlace>> ListRepairPlaces(const std::string& zone) override;
  absl::StatusOr<Replayable<Crew>> CreateCrew(const Crew& crew, const ChangeContext& context,
                                              const ResponseEncoder<Crew>& encode) override;
  absl::StatusOr<std::vector<Crew>> ListCrews(const std::string& zone) override;
  absl::StatusOr<std::optional<Crew>> FindCrew(const std::string& id) override;
  using DefectStore::CreateMechanic;
  absl::StatusOr<Replayable<Mechanic>> CreateMechanic(const Mechanic& mechanic,
                                                      const ChangeContext& context,
                                                      const ResponseEncoder<Mechanic>& encode,
                                                      const MechanicRule& rule) override;
  absl::StatusOr<std::vector<Mechanic>> ListMechanics(const std::string& crew_id) override;

  // ---- for tests ----

  // Every event written so far, in commit order (PostgreSQL's outbox before the relay
  // took any).
  std::vector<OutboxEvent> Events() const;
  // Returns the events written so far and forgets them (what the relay does).
  std::vector<OutboxEvent> TakeEvents();
  // Calls recorded for request_id retries (rows of defect.request_log).
  size_t RequestLogSize() const;
  // The audit rows written with changes (ChangeContext::audit), in commit order: what
  // PgDefectStore writes to audit.audit_log in the change's transaction.
  std::vector<runtime::AuditRecord> AuditRows() const;
  // The next call of any method returns `status` and does nothing else: a database
  // fault (UNAVAILABLE, INTERNAL, ABORTED ...) for the handler under test to map.
  void FailNextCall(absl::Status status);

 private:
  struct StoredPhoto {
    Photo photo;
    std::string bytes;
  };
  struct StoredDefect {
    Defect defect;  // as read back: times in microseconds, no photos (see `photos`)
    std::vector<StoredPhoto> photos;  // photo i has number i + 1
    std::vector<HistoryEntry> history;
  };

  // The injected failure, if any (and clears it).
  absl::Status TakeFailure() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stored defect with its photos' metadata; NOT_FOUND when absent.
  absl::StatusOr<Defect> Read(int64_t id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The facts MutateDefect reads with `current`.
  absl::StatusOr<DefectFacts> FactsOf(const Defect& current, const FactsWanted& wanted) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // What the table's foreign keys and checks refuse in `d` (FAILED_PRECONDITION).
  absl::Status CheckRow(const Defect& d) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The history entry and outbox event of one change (`before`: nullptr for a report).
  void RecordChange(StoredDefect& row, const Defect* before, const Defect& after, ChangeType type,
                    std::vector<FieldChange> changes, std::string comment,
                    const ChangeContext& context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The change's audit row, if the context carries one not yet written ("commit").
  void Audit(const ChangeContext& context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Claim, insert (which may refuse), record: a plant resource's create.
  template <typename T, typename Insert>
  absl::StatusOr<Replayable<T>> CreateResource(const ChangeContext& context,
                                               const ResponseEncoder<T>& encode, const T& created,
                                               const std::string& resource, Insert insert);

  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  int64_t last_defect_id_ ABSL_GUARDED_BY(mu_) = 0;  // the bigserial
  std::map<int64_t, StoredDefect> defects_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, DefectCategory> categories_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RepairPlace> places_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Crew> crews_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Mechanic> mechanics_ ABSL_GUARDED_BY(mu_);
  std::vector<OutboxEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<runtime::AuditRecord> audit_rows_ ABSL_GUARDED_BY(mu_);
  runtime::testing::MemoryRequestLog request_log_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plantmesh::defect::testing
