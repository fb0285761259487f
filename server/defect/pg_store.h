// DefectStore on PostgreSQL (schema `defect`, libpqxx 6.4). The only file of the
// service that speaks SQL: named prepared statements, parameters always.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/defect/store.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/pg_request_log.h"

namespace plantmesh::defect {

class PgDefectStore : public DefectStore {
 public:
  // `pool` outlives the store and runs PrepareStatements on each new connection.
  explicit PgDefectStore(runtime::PgPool* pool);

  // Registers the store's named statements on a connection (PgPoolOptions::on_connect;
  // libpqxx prepares each on its first use).
  static void PrepareStatements(pqxx::connection& conn);

  // What the schema's constraints mean (the busy-repair-place index, the resources'
  // primary keys, ...): violations map to these, by constraint name.
  static const runtime::PgConstraintErrors& ConstraintErrors();

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

 private:
  // pool_->Run with the schema's constraint errors.
  absl::Status Run(const std::function<absl::Status(pqxx::connection&)>& body);
  // Answers a retry of a defect change from its request log entry.
  static absl::Status Replay(pqxx::transaction_base& tx, const runtime::PgRequestLog::Entry& entry,
                             Replayable<Defect>* result);
  // Creates a plant resource with `insert`, idempotently; `created` is the answer.
  template <typename T>
  absl::StatusOr<Replayable<T>> CreateResource(
      const ChangeContext& context, const ResponseEncoder<T>& encode, const T& created,
      const std::string& resource,
      const std::function<absl::Status(pqxx::transaction_base&)>& insert);

  runtime::PgPool* pool_;
  // Categories found so far. The API can neither change nor delete a category, so an
  // entry never goes stale; a miss always asks PostgreSQL, so a category created through
  // another replica is seen at once. Saves a round trip on every report (bench B5).
  absl::Mutex categories_mu_;
  absl::flat_hash_map<std::string, DefectCategory> categories_ ABSL_GUARDED_BY(categories_mu_);
};

}  // namespace plantmesh::defect
