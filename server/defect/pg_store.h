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

namespace plantmesh::defect {

class PgDefectStore : public DefectStore {
 public:
  // `pool` outlives the store and runs PrepareStatements on each new connection.
  explicit PgDefectStore(runtime::PgPool* pool);

  // Registers the store's named statements on a connection (PgPoolOptions::on_connect;
  // libpqxx prepares each on its first use).
  static void PrepareStatements(pqxx::connection& conn);

  absl::StatusOr<Defect> CreateDefect(const Defect& defect, const std::string& request_hash,
                                      const ChangeContext& context) override;
  absl::StatusOr<Defect> GetDefect(int64_t id) override;
  absl::StatusOr<ListPage> ListDefects(const ListQuery& query) override;
  absl::StatusOr<Defect> MutateDefect(int64_t id, const ChangeContext& context,
                                      const Mutator& mutator) override;
  absl::StatusOr<std::vector<HistoryEntry>> GetHistory(int64_t id) override;
  absl::StatusOr<Photo> AddPhoto(const NewPhoto& photo, const ChangeContext& context) override;
  absl::StatusOr<PhotoContent> GetPhoto(int64_t defect_id, const std::string& photo_id) override;
  absl::StatusOr<std::optional<DefectCategory>> FindCategory(const std::string& code) override;
  absl::StatusOr<DefectCategory> CreateCategory(const DefectCategory& category,
                                                const std::string& request_id) override;
  absl::StatusOr<std::vector<DefectCategory>> ListCategories() override;
  absl::StatusOr<RepairPlace> CreateRepairPlace(const RepairPlace& place,
                                                const std::string& request_id) override;
  absl::StatusOr<std::vector<RepairPlace>> ListRepairPlaces(const std::string& zone) override;
  absl::StatusOr<Crew> CreateCrew(const Crew& crew, const std::string& request_id) override;
  absl::StatusOr<std::vector<Crew>> ListCrews(const std::string& zone) override;
  absl::StatusOr<Mechanic> CreateMechanic(const Mechanic& mechanic,
                                          const std::string& request_id) override;
  absl::StatusOr<std::vector<Mechanic>> ListMechanics(const std::string& crew_id) override;

 private:
  runtime::PgPool* pool_;
  // Categories found so far. The API can neither change nor delete a category, so an
  // entry never goes stale; a miss always asks PostgreSQL, so a category created through
  // another replica is seen at once. Saves a round trip on every report (bench B5).
  absl::Mutex categories_mu_;
  absl::flat_hash_map<std::string, DefectCategory> categories_ ABSL_GUARDED_BY(categories_mu_);
};

}  // namespace plantmesh::defect
