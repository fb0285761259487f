// The defect service's repository: what the handlers need from storage, independent of
// the database. Every change writes its history entry and its outbox event in the same
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

namespace plantmesh::defect {

// What a change to an existing defect produces.
struct Mutation {
  Defect after;
  ChangeType change_type = ChangeType::kUnspecified;
  std::string comment;  // reason given with the change (history)
};

// Computes the change from the current, locked defect (etag check, transition rules).
// An error aborts the transaction: nothing is written.
using Mutator = std::function<absl::StatusOr<Mutation>(const Defect& current)>;

struct ChangeContext {
  std::string request_id;  // "" = not idempotent
  std::string actor;
  absl::Time now;
  // MutateDefect: the change the call asks for (either QC outcome for VerifyRepair);
  // required with a request_id, to tell a retry from a reused id.
  ChangeType change_type = ChangeType::kUnspecified;
};

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

class DefectStore {
 public:
  virtual ~DefectStore() = default;

  // Stores a new defect (status REPORTED). A second call with the same request_id
  // returns the stored defect when request_hash matches, ALREADY_EXISTS otherwise.
  virtual absl::StatusOr<Defect> CreateDefect(const Defect& defect, const std::string& request_hash,
                                              const ChangeContext& context) = 0;

  // NOT_FOUND when absent.
  virtual absl::StatusOr<Defect> GetDefect(int64_t id) = 0;

  // One page in the query's order, after query.after.
  virtual absl::StatusOr<ListPage> ListDefects(const ListQuery& query) = 0;

  // Locks the defect, returns it unchanged if context.request_id already changed it
  // through the same method (ALREADY_EXISTS with REQUEST_ID_REUSED if through another:
  // CheckRequestIdRetry), otherwise applies `mutator`. A change that starts a repair
  // also locks the repair place and refuses (FAILED_PRECONDITION) when another defect
  // is in repair there; a change of assignment requires the repair place and mechanic
  // to exist (INVALID_ARGUMENT). An update that changes nothing writes nothing.
  virtual absl::StatusOr<Defect> MutateDefect(int64_t id, const ChangeContext& context,
                                              const Mutator& mutator) = 0;

  // Oldest first; NOT_FOUND when the defect is absent.
  virtual absl::StatusOr<std::vector<HistoryEntry>> GetHistory(int64_t id) = 0;

  // Attaches a photo (PHOTO_ADDED); a retry with the same request_id returns the stored
  // photo. NOT_FOUND when the defect is absent.
  virtual absl::StatusOr<Photo> AddPhoto(const NewPhoto& photo, const ChangeContext& context) = 0;
  virtual absl::StatusOr<PhotoContent> GetPhoto(int64_t defect_id, const std::string& photo_id) = 0;

  // Catalog and plant resources. Create* is idempotent by request_id; an id taken by a
  // different request is ALREADY_EXISTS.
  virtual absl::StatusOr<std::optional<DefectCategory>> FindCategory(const std::string& code) = 0;
  virtual absl::StatusOr<DefectCategory> CreateCategory(const DefectCategory& category,
                                                        const std::string& request_id) = 0;
  virtual absl::StatusOr<std::vector<DefectCategory>> ListCategories() = 0;
  virtual absl::StatusOr<RepairPlace> CreateRepairPlace(const RepairPlace& place,
                                                        const std::string& request_id) = 0;
  // With FREE/BUSY and the defect in repair, by id.
  virtual absl::StatusOr<std::vector<RepairPlace>> ListRepairPlaces(const std::string& zone) = 0;
  virtual absl::StatusOr<Crew> CreateCrew(const Crew& crew, const std::string& request_id) = 0;
  virtual absl::StatusOr<std::vector<Crew>> ListCrews(const std::string& zone) = 0;
  // INVALID_ARGUMENT (mechanic.crew_id) when the crew does not exist.
  virtual absl::StatusOr<Mechanic> CreateMechanic(const Mechanic& mechanic,
                                                  const std::string& request_id) = 0;
  virtual absl::StatusOr<std::vector<Mechanic>> ListMechanics(const std::string& crew_id) = 0;
};

}  // namespace plantmesh::defect
