// PgDefectStore against a real PostgreSQL (tests/support): idempotency, etags,
// keyset paging, outbox atomicity, repair-place locking.
#include "server/defect/pg_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/defect/v1/defect.pb.h"
#include "server/defect/domain.h"
#include "server/defect/module.h"
#include "server/runtime/errors.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/status_macros.h"
#include "tests/support/test_servers.h"

namespace plantmesh::defect {
namespace {

using ::testing::ElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

class PgDefectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = absl::AsciiStrToLower(absl::StrCat("defect_", info->name()));
    absl::StatusOr<std::string> url = plantmesh::testing::SharedPostgres().CreateDatabase(name);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    ASSERT_TRUE(runtime::ApplyMigrations(url_, "defect", EmbeddedMigrations()).ok());
    runtime::PgPoolOptions options;
    options.url = url_;
    options.size = 4;
    options.on_connect.push_back(&PgDefectStore::PrepareStatements);
    absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    store_ = std::make_unique<PgDefectStore>(pool_.get());
    ASSERT_TRUE(
        store_->CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor}, "c1").ok());
    ASSERT_TRUE(store_->CreateCrew({"CREW-A", "Paint repair A", "PAINT"}, "cr1").ok());
    ASSERT_TRUE(store_->CreateMechanic({"M-1", "Ann", "CREW-A", ""}, "m1").ok());
    ASSERT_TRUE(store_->CreateMechanic({"M-2", "Bob", "CREW-A", ""}, "m2").ok());
    ASSERT_TRUE(store_->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""}, "p1").ok());
    ASSERT_TRUE(store_->CreateRepairPlace({"RP-02", "Bay 2", "PAINT", false, ""}, "p2").ok());
  }

  Defect Draft(const std::string& vin, absl::Time now) {
    NewDefectInput in;
    in.vin = vin;
    in.model = "SEDAN";
    in.zone = "PAINT";
    in.station = "P-07";
    in.category_code = "PAINT-SCRATCH";
    in.shift = "2026-11-21/A";
    return *NewDefect(in, DefectCategory{"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                      "spiffe://p/user/op", now);
  }

  Defect Create(const std::string& vin, absl::Time now = kT0) {
    absl::StatusOr<Defect> d =
        store_->CreateDefect(Draft(vin, now), "hash-" + vin, {"req-" + vin, "op", now});
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Defect{};
  }

  absl::StatusOr<Defect> AssignTo(int64_t id, const std::string& place,
                                  const std::string& rid = "") {
    return store_->MutateDefect(
        id, {rid, "foreman", kT0, ChangeType::kAssigned},
        [&](const Defect& current) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, Assign(current, {place, "M-1"}, "foreman", kT0));
          return Mutation{after, ChangeType::kAssigned, ""};
        });
  }

  absl::StatusOr<Defect> Start(int64_t id, const std::string& rid = "") {
    return store_->MutateDefect(id, {rid, "m1", kT0, ChangeType::kRepairStarted},
                                [](const Defect& current) -> absl::StatusOr<Mutation> {
                                  PM_ASSIGN_OR_RETURN(Defect after,
                                                      StartRepair(current, "m1", kT0));
                                  return Mutation{after, ChangeType::kRepairStarted, ""};
                                });
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  std::string url_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgDefectStore> store_;
};

TEST_F(PgDefectStoreTest, CreateIsIdempotentByRequestId) {
  Defect first = Create("VIN-1");
  EXPECT_GT(first.id, 0);
  EXPECT_EQ(first.version, 1);
  absl::StatusOr<Defect> retry =
      store_->CreateDefect(Draft("VIN-1", kT0 + absl::Seconds(5)), "hash-VIN-1",
                           {"req-VIN-1", "op", kT0 + absl::Seconds(5)});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->id, first.id);
  EXPECT_EQ(retry->create_time, first.create_time);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.defects"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), 1);

  absl::StatusOr<Defect> reused =
      store_->CreateDefect(Draft("VIN-2", kT0), "another-hash", {"req-VIN-1", "op", kT0});
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.defects"), 1);

  absl::StatusOr<Defect> got = store_->GetDefect(first.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->vin, "VIN-1");
  EXPECT_EQ(got->status, DefectStatus::kReported);
  EXPECT_EQ(store_->GetDefect(first.id + 100).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgDefectStoreTest, StaleEtagWritesNothing) {
  Defect d = Create("VIN-1");
  ASSERT_TRUE(AssignTo(d.id, "RP-01").ok());  // version 2
  const int64_t history = Count("SELECT count(*) FROM defect.history");
  const int64_t outbox = Count("SELECT count(*) FROM defect.outbox");
  absl::StatusOr<Defect> stale = store_->MutateDefect(
      d.id, {"r-stale", "foreman", kT0, ChangeType::kUpdated},
      [&](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_RETURN_IF_ERROR(CheckEtag(current, EtagOf(1), true));
        NewDefectInput in;
        in.description = "changed";
        PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(current, in, {"description"}, kT0));
        return Mutation{after, ChangeType::kUpdated, ""};
      });
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(runtime::ErrorInfoOf(stale.status()).metadata["current_etag"], "v2");
  Defect now = *store_->GetDefect(d.id);
  EXPECT_EQ(now.version, 2);
  EXPECT_EQ(now.description, "");
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), history);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), outbox);
}

TEST_F(PgDefectStoreTest, EveryChangeWritesHistoryAndOutboxInTheSameTransaction) {
  Defect d = Create("VIN-1");
  ASSERT_TRUE(AssignTo(d.id, "RP-01").ok());
  ASSERT_TRUE(Start(d.id).ok());
  ASSERT_TRUE(store_
                  ->AddPhoto({d.id, "image/png", 3, std::string(64, 'a'), "a.png", "abc"},
                             {"ph-1", "m1", kT0})
                  .ok());
  // An illegal move writes neither.
  EXPECT_EQ(AssignTo(d.id, "RP-02").status().code(), absl::StatusCode::kFailedPrecondition);

  pqxx::connection conn(url_);
  pqxx::nontransaction tx(conn);
  // xmin is the writing transaction: history and outbox rows share it one to one.
  pqxx::result pairs = tx.exec(
      "SELECT h.sequence, h.change_type, h.xmin::text AS hx, o.xmin::text AS ox, o.payload "
      "FROM defect.history h JOIN defect.outbox o ON o.xmin::text = h.xmin::text "
      "ORDER BY h.sequence");
  ASSERT_EQ(pairs.size(), 4u);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), 4);
  std::vector<int> types;
  std::set<std::string> event_ids;
  for (const pqxx::row& r : pairs) {
    plantmesh::defect::v1::DefectEvent event;
    ASSERT_TRUE(event.ParseFromString(pqxx::binarystring(r["payload"]).str()));
    EXPECT_EQ(static_cast<int>(event.change_type()), r["change_type"].as<int>());
    EXPECT_EQ(event.defect().id(), absl::StrCat(d.id));
    EXPECT_TRUE(event.cursor().empty());
    event_ids.insert(event.event_id());
    types.push_back(r["change_type"].as<int>());
  }
  EXPECT_EQ(event_ids.size(), 4u);
  EXPECT_THAT(types, ElementsAre(1, 3, 4, 9));
  // The defect row was written by the same transaction as the last history entry.
  EXPECT_EQ(tx.exec1("SELECT xmin::text FROM defect.defects")[0].as<std::string>(),
            pairs[3]["hx"].as<std::string>());

  absl::StatusOr<std::vector<HistoryEntry>> history = store_->GetHistory(d.id);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 4u);
  EXPECT_EQ((*history)[1].sequence, 2);
  EXPECT_EQ((*history)[1].actor, "foreman");
  EXPECT_EQ((*history)[1].changes[0].field, "status");
  EXPECT_EQ((*history)[1].changes[0].new_value, "ASSIGNED");
  EXPECT_EQ((*history)[3].request_id, "ph-1");
}

TEST_F(PgDefectStoreTest, TransitionIsIdempotentByRequestId) {
  Defect d = Create("VIN-1");
  absl::StatusOr<Defect> first = AssignTo(d.id, "RP-01", "assign-1");
  ASSERT_TRUE(first.ok());
  // The retry returns the current defect even though re-applying would now differ.
  absl::StatusOr<Defect> retry = AssignTo(d.id, "RP-02", "assign-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->version, first->version);
  EXPECT_EQ(retry->assignment->repair_place_id, "RP-01");
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), 2);
}

TEST_F(PgDefectStoreTest, RequestIdOfAnotherChangeIsRefused) {
  Defect d = Create("VIN-1");
  absl::StatusOr<Defect> assigned = AssignTo(d.id, "RP-01", "assign-1");
  ASSERT_TRUE(assigned.ok()) << assigned.status();

  // StartRepair sent with AssignDefect's request_id: not a retry, and not applied.
  absl::StatusOr<Defect> started = Start(d.id, "assign-1");
  EXPECT_EQ(started.status().code(), absl::StatusCode::kAlreadyExists) << started.status();
  runtime::ErrorInfoView info = runtime::ErrorInfoOf(started.status());
  EXPECT_EQ(info.reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(info.metadata["used_by"], "AssignDefect");
  EXPECT_EQ(info.metadata["defect_id"], absl::StrCat(d.id));
  EXPECT_EQ(store_->GetDefect(d.id)->status, DefectStatus::kAssigned);

  // CreateDefect's request_id is recorded too.
  started = Start(d.id, "req-VIN-1");
  EXPECT_EQ(started.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(started.status()).metadata["used_by"], "CreateDefect");
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 2);

  // Both QC outcomes come from VerifyRepair: a retry with the other decision is a retry.
  ASSERT_TRUE(Start(d.id, "start-1").ok());
  ASSERT_TRUE(store_
                  ->MutateDefect(
                      d.id, {"finish-1", "m1", kT0, ChangeType::kRepairFinished},
                      [](const Defect& c) -> absl::StatusOr<Mutation> {
                        PM_ASSIGN_OR_RETURN(Defect after, FinishRepair(c, {"done", 5}, "m1", kT0));
                        return Mutation{after, ChangeType::kRepairFinished, ""};
                      })
                  .ok());
  auto verify = [&](QcDecision decision, const std::string& rid) {
    const ChangeType type =
        decision == QcDecision::kAccept ? ChangeType::kRepairAccepted : ChangeType::kRepairRejected;
    return store_->MutateDefect(
        d.id, {rid, "qc", kT0, type}, [&](const Defect& c) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, VerifyRepair(c, {decision, "paint runs"}, "qc", kT0));
          return Mutation{after, type, ""};
        });
  };
  absl::StatusOr<Defect> rejected = verify(QcDecision::kReject, "verify-1");
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  absl::StatusOr<Defect> retried = verify(QcDecision::kAccept, "verify-1");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->status, DefectStatus::kReopened);
  EXPECT_EQ(retried->version, rejected->version);
  // ...but FinishRepair's id is not VerifyRepair's.
  EXPECT_EQ(verify(QcDecision::kAccept, "finish-1").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 5);
}

TEST_F(PgDefectStoreTest, AssignRequiresExistingPlaceAndMechanic) {
  Defect d = Create("VIN-1");
  absl::StatusOr<Defect> r = store_->MutateDefect(
      d.id, {"", "foreman", kT0}, [](const Defect& current) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, Assign(current, {"RP-99", "M-99"}, "foreman", kT0));
        return Mutation{after, ChangeType::kAssigned, ""};
      });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& v : runtime::FieldViolationsOf(r.status())) fields.insert(v.field);
  EXPECT_EQ(fields, (std::set<std::string>{"repair_place_id", "mechanic_id"}));
  EXPECT_EQ(store_->MutateDefect(999, {"", "x", kT0}, nullptr).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PgDefectStoreTest, StartRepairOnABusyPlaceIsRefused) {
  Defect a = Create("VIN-A");
  Defect b = Create("VIN-B");
  ASSERT_TRUE(AssignTo(a.id, "RP-01").ok());
  ASSERT_TRUE(AssignTo(b.id, "RP-01").ok());
  ASSERT_TRUE(Start(a.id).ok());
  absl::StatusOr<Defect> refused = Start(b.id);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr(absl::StrCat(a.id)));
  EXPECT_EQ(runtime::ErrorInfoOf(refused.status()).metadata["current_defect_id"],
            absl::StrCat(a.id));
  EXPECT_EQ(store_->GetDefect(b.id)->status, DefectStatus::kAssigned);

  std::vector<RepairPlace> places = *store_->ListRepairPlaces("");
  ASSERT_EQ(places.size(), 2u);
  EXPECT_TRUE(places[0].busy);
  EXPECT_EQ(places[0].current_defect_id, absl::StrCat(a.id));
  EXPECT_FALSE(places[1].busy);

  // Once the first repair finishes the place is free again.
  ASSERT_TRUE(store_
                  ->MutateDefect(
                      a.id, {"", "m1", kT0},
                      [](const Defect& c) -> absl::StatusOr<Mutation> {
                        PM_ASSIGN_OR_RETURN(Defect after, FinishRepair(c, {"done", 5}, "m1", kT0));
                        return Mutation{after, ChangeType::kRepairFinished, ""};
                      })
                  .ok());
  EXPECT_TRUE(Start(b.id).ok());
}

TEST_F(PgDefectStoreTest, ConcurrentStartRepairAtOnePlaceOneWins) {
  for (int round = 0; round < 10; ++round) {
    Defect a = Create(absl::StrCat("VIN-A", round));
    Defect b = Create(absl::StrCat("VIN-B", round));
    ASSERT_TRUE(AssignTo(a.id, "RP-02").ok());
    ASSERT_TRUE(AssignTo(b.id, "RP-02").ok());
    std::mutex mu;
    std::condition_variable cv;
    int ready = 0;
    std::vector<absl::Status> results(2);
    auto run = [&](int i, int64_t id) {
      {
        std::unique_lock<std::mutex> lock(mu);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return ready == 2; });
      }
      results[i] = Start(id).status();
    };
    std::thread t1(run, 0, a.id);
    std::thread t2(run, 1, b.id);
    t1.join();
    t2.join();
    int ok = 0;
    for (const absl::Status& s : results) {
      if (s.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
      }
    }
    EXPECT_EQ(ok, 1) << results[0] << " / " << results[1];
    EXPECT_EQ(Count("SELECT count(*) FROM defect.defects WHERE status = 3"), 1);
    // Free the place for the next round.
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec0("UPDATE defect.defects SET status = 7 WHERE status IN (2, 3)");
    tx.commit();
  }
}

TEST_F(PgDefectStoreTest, KeysetPagingReturnsEachDefectOnceInOrder) {
  constexpr int kDefects = 1000;
  std::map<int64_t, Defect> all;
  for (int i = 0; i < kDefects; ++i) {
    // Three defects share each create time: the id breaks the tie.
    Defect d = Create(absl::StrCat("V", i), kT0 + absl::Seconds(i / 3));
    all[d.id] = d;
  }
  // Every seventh defect changes later, in reverse order of creation.
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->first % 7 != 0) continue;
    absl::Time when =
        kT0 + absl::Hours(1) + absl::Seconds(static_cast<double>(all.size() - it->first) / 2);
    absl::StatusOr<Defect> updated = store_->MutateDefect(
        it->first, {"", "qc", when}, [&](const Defect& c) -> absl::StatusOr<Mutation> {
          NewDefectInput in;
          in.description = "later";
          PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(c, in, {"description"}, when));
          return Mutation{after, ChangeType::kUpdated, ""};
        });
    ASSERT_TRUE(updated.ok()) << updated.status();
    it->second = *updated;
  }
  for (const char* order_by :
       {"create_time desc", "create_time", "update_time desc", "update_time"}) {
    SCOPED_TRACE(order_by);
    ListRequestInput input;
    input.order_by = order_by;
    input.page_size = 97;
    input.filter.zone = "PAINT";
    std::vector<int64_t> seen;
    for (int pages = 0; pages < 100; ++pages) {
      absl::StatusOr<ListQuery> query = MakeListQuery(input);
      ASSERT_TRUE(query.ok()) << query.status();
      absl::StatusOr<ListPage> page = store_->ListDefects(*query);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const Defect& d : page->defects) seen.push_back(d.id);
      if (!page->more) break;
      input.page_token = EncodePageToken(*query, page->defects.back());
    }
    std::vector<int64_t> expected;
    for (const auto& [id, d] : all) expected.push_back(id);
    const bool by_create = absl::StartsWith(order_by, "create");
    const bool desc = absl::EndsWith(order_by, "desc");
    std::sort(expected.begin(), expected.end(), [&](int64_t x, int64_t y) {
      absl::Time tx = by_create ? all[x].create_time : all[x].update_time;
      absl::Time ty = by_create ? all[y].create_time : all[y].update_time;
      if (tx != ty) return desc ? tx > ty : tx < ty;
      return desc ? x > y : x < y;
    });
    EXPECT_EQ(seen.size(), static_cast<size_t>(kDefects));
    EXPECT_EQ(seen, expected);
  }
  // Filters apply: one VIN, and a status none has.
  ListRequestInput by_vin;
  by_vin.filter.vin = "V10";
  EXPECT_EQ(store_->ListDefects(*MakeListQuery(by_vin))->defects.size(), 1u);
  ListRequestInput closed;
  closed.filter.statuses = {DefectStatus::kClosed};
  EXPECT_TRUE(store_->ListDefects(*MakeListQuery(closed))->defects.empty());
  ListRequestInput window;
  window.filter.create_time_from = kT0 + absl::Seconds(10);
  window.filter.create_time_to = kT0 + absl::Seconds(20);
  EXPECT_EQ(store_->ListDefects(*MakeListQuery(window))->defects.size(), 30u);
}

TEST_F(PgDefectStoreTest, PhotosAreStoredOnceAndReadBack) {
  Defect d = Create("VIN-1");
  std::string bytes(300000, '\x7f');
  bytes[5] = '\0';
  NewPhoto photo{d.id,       "image/jpeg", static_cast<int64_t>(bytes.size()), std::string(64, 'b'),
                 "door.jpg", bytes};
  absl::StatusOr<Photo> stored = store_->AddPhoto(photo, {"up-1", "op", kT0});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->id, "1");
  absl::StatusOr<Photo> retry = store_->AddPhoto(photo, {"up-1", "op", kT0});
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->id, "1");
  EXPECT_EQ(Count("SELECT count(*) FROM defect.photos"), 1);
  absl::StatusOr<PhotoContent> content = store_->GetPhoto(d.id, "1");
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(content->bytes, bytes);
  EXPECT_EQ(content->photo.file_name, "door.jpg");
  Defect after = *store_->GetDefect(d.id);
  ASSERT_EQ(after.photos.size(), 1u);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(store_->GetPhoto(d.id, "2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddPhoto({999, "image/png", 1, std::string(64, 'c'), "", "x"}, {"", "op", kT0})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PgDefectStoreTest, ResourcesAreIdempotentAndClashesRefused) {
  EXPECT_TRUE(store_->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""}, "p1").ok());
  EXPECT_EQ(
      store_->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""}, "other").status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateCrew({"CREW-A", "x", "PAINT"}, "cr1").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      store_->CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor}, "c1")->code,
      "PAINT-SCRATCH");
  absl::Status no_crew = store_->CreateMechanic({"M-9", "Zed", "CREW-Z", ""}, "m9").status();
  EXPECT_EQ(no_crew.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runtime::FieldViolationsOf(no_crew)[0].field, "mechanic.crew_id");
  EXPECT_EQ(store_->ListMechanics("CREW-A")->size(), 2u);
  EXPECT_EQ(store_->ListCrews("ASSEMBLY")->size(), 0u);
  EXPECT_EQ(store_->ListCategories()->size(), 1u);
  EXPECT_TRUE(store_->FindCategory("PAINT-SCRATCH")->has_value());
  EXPECT_FALSE(store_->FindCategory("NOPE")->has_value());
}

}  // namespace
}  // namespace plantmesh::defect
