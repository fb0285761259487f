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
#include "plantmesh/common/status_macros.h"
#include "plantmesh/defect/v1/defect.pb.h"
#include "server/defect/convert.h"
#include "server/defect/domain.h"
#include "server/defect/module.h"
#include "server/runtime/errors.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_pool.h"
#include "tests/support/test_servers.h"

namespace plantmesh::defect {
namespace {

using ::testing::ElementsAre;

namespace pb = ::plantmesh::defect::v1;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);

// A change by `actor` through `method` (short name) with request id `rid` whose payload
// fingerprint is `payload`.
ChangeContext Ctx(const std::string& actor, const std::string& method, const std::string& rid = "",
                  absl::Time now = kT0, const std::string& payload = "payload") {
  return ChangeContext{
      {actor, absl::StrCat("plantmesh.defect.v1.DefectService.", method), rid, payload}, now};
}

// What the handlers record for a defect change, in short: the defect as protobuf.
std::string EncodeDefect(const Defect& d) {
  pb::Defect proto;
  ToProto(d, &proto);
  return proto.SerializeAsString();
}

// The defect a store answer carries: this call's result, or the recorded one.
pb::Defect AnswerOf(const Replayable<Defect>& answer) {
  pb::Defect proto;
  if (answer.recorded_response) {
    EXPECT_TRUE(proto.ParseFromString(*answer.recorded_response));
  } else if (answer.value) {
    ToProto(*answer.value, &proto);
  }
  return proto;
}

template <typename T>
absl::StatusOr<T> ValueOf(absl::StatusOr<Replayable<T>> answer) {
  if (!answer.ok()) return answer.status();
  if (!answer->value) return absl::InternalError("a replay, not a new result");
  return *answer->value;
}

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
    ASSERT_TRUE(store_
                    ->CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                                     Ctx("ops", "CreateDefectCategory", "c1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateCrew({"CREW-A", "Paint repair A", "PAINT"},
                                 Ctx("ops", "CreateCrew", "cr1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateMechanic({"M-1", "Ann", "CREW-A", "spiffe://p/user/m1"},
                                     Ctx("ops", "CreateMechanic", "m1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateMechanic({"M-2", "Bob", "CREW-A", ""},
                                     Ctx("ops", "CreateMechanic", "m2"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""},
                                        Ctx("ops", "CreateRepairPlace", "p1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateRepairPlace({"RP-02", "Bay 2", "PAINT", false, ""},
                                        Ctx("ops", "CreateRepairPlace", "p2"), nullptr)
                    .ok());
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
    absl::StatusOr<Defect> d = ValueOf(store_->CreateDefect(
        Draft(vin, now), Ctx("op", "CreateDefect", "req-" + vin, now, "hash-" + vin),
        EncodeDefect));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Defect{};
  }

  // The payload of an assignment is its place: another place is another request.
  absl::StatusOr<Replayable<Defect>> AssignAnswer(int64_t id, const std::string& place,
                                                  const std::string& rid = "",
                                                  const std::string& actor = "foreman") {
    return store_->MutateDefect(
        id, Ctx(actor, "AssignDefect", rid, kT0, place),
        [&](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, Assign(current, {place, "M-1"}, actor, kT0));
          return Mutation{after, ChangeType::kAssigned, ""};
        },
        EncodeDefect);
  }
  absl::StatusOr<Defect> AssignTo(int64_t id, const std::string& place,
                                  const std::string& rid = "") {
    return ValueOf(AssignAnswer(id, place, rid));
  }

  absl::StatusOr<Defect> Start(int64_t id, const std::string& rid = "") {
    return ValueOf(store_->MutateDefect(
        id, Ctx("m1", "StartRepair", rid),
        [](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, StartRepair(current, "m1", kT0));
          return Mutation{after, ChangeType::kRepairStarted, ""};
        },
        EncodeDefect));
  }

  absl::StatusOr<Defect> Finish(int64_t id, const std::string& rid = "") {
    return ValueOf(store_->MutateDefect(
        id, Ctx("m1", "FinishRepair", rid),
        [](const Defect& c, const DefectFacts&) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, FinishRepair(c, {"done", 5}, "m1", kT0));
          return Mutation{after, ChangeType::kRepairFinished, ""};
        },
        EncodeDefect));
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
  // The retry: the first call's answer as recorded, nothing written.
  absl::StatusOr<Replayable<Defect>> retry = store_->CreateDefect(
      Draft("VIN-1", kT0 + absl::Seconds(5)),
      Ctx("op", "CreateDefect", "req-VIN-1", kT0 + absl::Seconds(5), "hash-VIN-1"), EncodeDefect);
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(AnswerOf(*retry).id(), absl::StrCat(first.id));
  EXPECT_EQ(AnswerOf(*retry).create_time().seconds(), absl::ToUnixSeconds(first.create_time));
  EXPECT_EQ(Count("SELECT count(*) FROM defect.defects"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), 1);

  absl::StatusOr<Replayable<Defect>> reused = store_->CreateDefect(
      Draft("VIN-2", kT0), Ctx("op", "CreateDefect", "req-VIN-1", kT0, "another-hash"),
      EncodeDefect);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  runtime::ErrorInfoView info = runtime::ErrorInfoOf(reused.status());
  EXPECT_EQ(info.reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(info.metadata["resource"], absl::StrCat("defects/", first.id));
  EXPECT_EQ(Count("SELECT count(*) FROM defect.defects"), 1);

  // Another caller's request_id is its own, even when spelled the same.
  absl::StatusOr<Defect> other = ValueOf(store_->CreateDefect(
      Draft("VIN-3", kT0), Ctx("qc", "CreateDefect", "req-VIN-1", kT0, "another-hash"),
      EncodeDefect));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->id, first.id);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.defects"), 2);

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
  absl::StatusOr<Replayable<Defect>> stale = store_->MutateDefect(
      d.id, Ctx("foreman", "UpdateDefect", "r-stale"),
      [&](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
        PM_RETURN_IF_ERROR(CheckEtag(current, EtagOf(1), true));
        NewDefectInput in;
        in.description = "changed";
        PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(current, in, {"description"}, kT0));
        return Mutation{after, ChangeType::kUpdated, ""};
      },
      EncodeDefect);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(runtime::ErrorInfoOf(stale.status()).metadata["current_etag"], "v2");
  Defect now = *store_->GetDefect(d.id);
  EXPECT_EQ(now.version, 2);
  EXPECT_EQ(now.description, "");
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), history);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), outbox);
  // A failed call records nothing: its retry is evaluated afresh.
  EXPECT_EQ(Count("SELECT count(*) FROM defect.request_log WHERE request_id = 'r-stale'"), 0);
}

TEST_F(PgDefectStoreTest, EveryChangeWritesHistoryAndOutboxInTheSameTransaction) {
  Defect d = Create("VIN-1");
  ASSERT_TRUE(AssignTo(d.id, "RP-01").ok());
  ASSERT_TRUE(Start(d.id).ok());
  ASSERT_TRUE(store_
                  ->AddPhoto({d.id, "image/png", 3, std::string(64, 'a'), "a.png", "abc"},
                             Ctx("m1", "UploadDefectPhoto", "ph-1"), nullptr)
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

// The example: AssignDefect with a reused request_id and a different payload
// answered OK with the old result; now that is REQUEST_ID_REUSED, and a true retry gets
// the first answer back even after the defect changed since.
TEST_F(PgDefectStoreTest, TransitionIsIdempotentByRequestIdAndPayload) {
  Defect d = Create("VIN-1");
  absl::StatusOr<Defect> first = AssignTo(d.id, "RP-01", "assign-1");
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<Replayable<Defect>> reused = AssignAnswer(d.id, "RP-02", "assign-1");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists) << reused.status();
  EXPECT_EQ(runtime::ErrorInfoOf(reused.status()).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(store_->GetDefect(d.id)->assignment->repair_place_id, "RP-01");

  ASSERT_TRUE(Start(d.id).ok());  // the defect moves on
  absl::StatusOr<Replayable<Defect>> retry = AssignAnswer(d.id, "RP-01", "assign-1");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->recorded_response.has_value());
  EXPECT_EQ(AnswerOf(*retry).etag(), EtagOf(first->version));
  EXPECT_EQ(AnswerOf(*retry).status(), pb::DEFECT_STATUS_ASSIGNED);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), 3);
}

// A request_id is scoped to the caller and the method: the same id from another method
// or another caller is a call of its own.
TEST_F(PgDefectStoreTest, RequestIdsAreScopedToCallerAndMethod) {
  Defect d = Create("VIN-1");
  ASSERT_TRUE(AssignTo(d.id, "RP-01", "rid-1").ok());
  // StartRepair with the same request_id is its own call.
  absl::StatusOr<Defect> started = Start(d.id, "rid-1");
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->status, DefectStatus::kInRepair);
  ASSERT_TRUE(Finish(d.id, "rid-1").ok());
  // Another foreman reassigning with the same id and payload gets its own change...
  absl::StatusOr<Replayable<Defect>> other = AssignAnswer(d.id, "RP-01", "rid-1", "anna");
  // ...which here the state machine refuses (REPAIRED cannot be assigned): it was
  // evaluated, not answered from foreman's record.
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  // Both QC outcomes are VerifyRepair: a retry with the other decision but the same
  // payload fingerprint is the retry.
  auto verify = [&](QcDecision decision) {
    const ChangeType type =
        decision == QcDecision::kAccept ? ChangeType::kRepairAccepted : ChangeType::kRepairRejected;
    return store_->MutateDefect(
        d.id, Ctx("qc", "VerifyRepair", "verify-1"),
        [&](const Defect& c, const DefectFacts&) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, VerifyRepair(c, {decision, "paint runs"}, "qc", kT0));
          return Mutation{after, type, ""};
        },
        EncodeDefect);
  };
  absl::StatusOr<Replayable<Defect>> rejected = verify(QcDecision::kReject);
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  absl::StatusOr<Replayable<Defect>> retried = verify(QcDecision::kAccept);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(AnswerOf(*retried).status(), pb::DEFECT_STATUS_REOPENED);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.history"), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.request_log WHERE request_id = 'rid-1'"), 3);
}

// The store supplies the facts the rules need: the assigned mechanic's identity.
TEST_F(PgDefectStoreTest, MutatorSeesTheAssignedMechanicsIdentity) {
  Defect d = Create("VIN-1");
  std::string seen = "unset";
  auto peek = [&](const Defect& c, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
    seen = facts.assigned_mechanic_identity;
    return absl::CancelledError("only looking");
  };
  EXPECT_FALSE(store_->MutateDefect(d.id, Ctx("x", "UpdateDefect"), peek, nullptr).ok());
  EXPECT_EQ(seen, "");
  ASSERT_TRUE(AssignTo(d.id, "RP-01").ok());  // to M-1
  EXPECT_FALSE(store_->MutateDefect(d.id, Ctx("x", "UpdateDefect"), peek, nullptr).ok());
  EXPECT_EQ(seen, "spiffe://p/user/m1");
}

TEST_F(PgDefectStoreTest, AssignRequiresExistingPlaceAndMechanic) {
  Defect d = Create("VIN-1");
  absl::StatusOr<Replayable<Defect>> r = store_->MutateDefect(
      d.id, Ctx("foreman", "AssignDefect"),
      [](const Defect& current, const DefectFacts&) -> absl::StatusOr<Mutation> {
        PM_ASSIGN_OR_RETURN(Defect after, Assign(current, {"RP-99", "M-99"}, "foreman", kT0));
        return Mutation{after, ChangeType::kAssigned, ""};
      },
      nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& v : runtime::FieldViolationsOf(r.status())) fields.insert(v.field);
  EXPECT_EQ(fields, (std::set<std::string>{"repair_place_id", "mechanic_id"}));
  EXPECT_EQ(store_->MutateDefect(999, Ctx("x", "UpdateDefect"), nullptr, nullptr).status().code(),
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
  ASSERT_TRUE(Finish(a.id).ok());
  EXPECT_TRUE(Start(b.id).ok());
}

// Unique-constraint violations map by constraint to the domain's reason: the busy-place
// index is the backstop behind the place lock, so it is hit here directly.
TEST_F(PgDefectStoreTest, ConstraintViolationsMapToTheDomainsReasons) {
  Defect a = Create("VIN-A");
  Defect b = Create("VIN-B");
  ASSERT_TRUE(AssignTo(a.id, "RP-01").ok());
  ASSERT_TRUE(AssignTo(b.id, "RP-01").ok());
  ASSERT_TRUE(Start(a.id).ok());
  absl::Status busy = pool_->Run(
      [&](pqxx::connection& conn) {
        pqxx::work tx(conn);
        tx.exec_params0("UPDATE defect.defects SET status = 3 WHERE id = $1", b.id);
        tx.commit();
        return absl::OkStatus();
      },
      PgDefectStore::ConstraintErrors());
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;
  EXPECT_EQ(runtime::ErrorInfoOf(busy).reason, "REPAIR_PLACE_BUSY");

  // Every declared constraint exists in the schema (a rename would silently fall back).
  for (const std::string& name : PgDefectStore::ConstraintErrors().names()) {
    EXPECT_EQ(
        Count(absl::StrCat("SELECT (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n "
                           "ON n.oid = c.connamespace WHERE n.nspname = 'defect' AND "
                           "c.conname = '",
                           name,
                           "') + (SELECT count(*) FROM pg_indexes WHERE schemaname = "
                           "'defect' AND indexname = '",
                           name, "')")),
        name == "defects_one_repair_per_place_idx" ? 1 : (absl::EndsWith(name, "_pkey") ? 2 : 1))
        << name;
  }
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
    absl::StatusOr<Defect> updated = ValueOf(store_->MutateDefect(
        it->first, Ctx("qc", "UpdateDefect", "", when),
        [&](const Defect& c, const DefectFacts&) -> absl::StatusOr<Mutation> {
          NewDefectInput in;
          in.description = "later";
          PM_ASSIGN_OR_RETURN(Defect after, ApplyUpdate(c, in, {"description"}, when));
          return Mutation{after, ChangeType::kUpdated, ""};
        },
        nullptr));
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
  auto encode = [](const Photo& p) {
    pb::Photo proto;
    ToProto(p, &proto);
    return proto.SerializeAsString();
  };
  absl::StatusOr<Photo> stored =
      ValueOf(store_->AddPhoto(photo, Ctx("op", "UploadDefectPhoto", "up-1"), encode));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->id, "1");
  absl::StatusOr<Replayable<Photo>> retry =
      store_->AddPhoto(photo, Ctx("op", "UploadDefectPhoto", "up-1"), encode);
  ASSERT_TRUE(retry.ok());
  pb::Photo recorded;
  ASSERT_TRUE(recorded.ParseFromString(retry->recorded_response.value_or("")));
  EXPECT_EQ(recorded.id(), "1");
  EXPECT_EQ(Count("SELECT count(*) FROM defect.photos"), 1);
  absl::StatusOr<PhotoContent> content = store_->GetPhoto(d.id, "1");
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(content->bytes, bytes);
  EXPECT_EQ(content->photo.file_name, "door.jpg");
  Defect after = *store_->GetDefect(d.id);
  ASSERT_EQ(after.photos.size(), 1u);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(store_->GetPhoto(d.id, "2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_
                ->AddPhoto({999, "image/png", 1, std::string(64, 'c'), "", "x"},
                           Ctx("op", "UploadDefectPhoto"), encode)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PgDefectStoreTest, ResourcesAreIdempotentAndClashesRefused) {
  auto encode = [](const RepairPlace& p) { return "place " + p.id; };
  absl::StatusOr<Replayable<RepairPlace>> retry = store_->CreateRepairPlace(
      {"RP-01", "Bay 1", "PAINT", false, ""}, Ctx("ops", "CreateRepairPlace", "p1"), encode);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->recorded_response, "");  // recorded by SetUp without an encoder
  // A taken id is ALREADY_EXISTS naming the resource, not a request_id matter.
  absl::Status taken = store_
                           ->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""},
                                               Ctx("ops", "CreateRepairPlace", "other"), encode)
                           .status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(taken.message()), ::testing::HasSubstr("repair place 'RP-01'"));
  EXPECT_EQ(runtime::ErrorInfoOf(taken).reason, "RESOURCE_EXISTS");
  EXPECT_EQ(store_->CreateCrew({"CREW-A", "x", "PAINT"}, Ctx("ops", "CreateCrew", "cr9"), nullptr)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  // The same request_id with another payload is a reuse.
  EXPECT_EQ(
      runtime::ErrorInfoOf(store_
                               ->CreateCrew({"CREW-B", "x", "PAINT"},
                                            Ctx("ops", "CreateCrew", "cr1", kT0, "other"), nullptr)
                               .status())
          .reason,
      "REQUEST_ID_REUSED");
  absl::Status no_crew = store_
                             ->CreateMechanic({"M-9", "Zed", "CREW-Z", ""},
                                              Ctx("ops", "CreateMechanic", "m9"), nullptr)
                             .status();
  EXPECT_EQ(no_crew.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runtime::FieldViolationsOf(no_crew)[0].field, "mechanic.crew_id");
  EXPECT_EQ(store_->ListMechanics("CREW-A")->size(), 2u);
  EXPECT_EQ(store_->ListCrews("ASSEMBLY")->size(), 0u);
  EXPECT_EQ(store_->ListCategories()->size(), 1u);
  EXPECT_TRUE(store_->FindCategory("PAINT-SCRATCH")->has_value());
  EXPECT_FALSE(store_->FindCategory("NOPE")->has_value());
}

// Migration 0003 carries the request ids recorded before it into the request log: a
// retry spanning the upgrade is still a retry (answered with the resource as it is now).
TEST(PgDefectStoreMigrationTest, RequestIdsRecordedBeforeTheLogStayRetries) {
  absl::StatusOr<std::string> url =
      plantmesh::testing::SharedPostgres().CreateDatabase("defect_request_log_migration");
  ASSERT_TRUE(url.ok()) << url.status();
  std::vector<runtime::Migration> before(EmbeddedMigrations().begin(),
                                         EmbeddedMigrations().begin() + 2);
  ASSERT_TRUE(runtime::ApplyMigrations(*url, "defect", before).ok());
  {
    pqxx::connection conn(*url);
    pqxx::work tx(conn);
    tx.exec0(
        "INSERT INTO defect.categories (code, title, default_severity) VALUES ('C', 'c', 1);"
        "INSERT INTO defect.defects (id, request_id, request_hash, vin, model, zone, station, "
        "category_code, severity, shift, status, reported_by, create_time, update_time) VALUES "
        "(7, 'old-create', 'old-hash', 'V', 'M', 'Z', 'S', 'C', 1, 'A', 1, 'op', now(), now());"
        "INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time, "
        "request_id) VALUES (7, 1, 1, 'op', now(), 'old-create'), "
        "(7, 2, 2, 'qc', now(), 'old-update')");
    tx.commit();
  }
  ASSERT_TRUE(runtime::ApplyMigrations(*url, "defect", EmbeddedMigrations()).ok());
  runtime::PgPoolOptions options;
  options.url = *url;
  options.size = 1;
  options.on_connect.push_back(&PgDefectStore::PrepareStatements);
  absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  PgDefectStore store(pool->get());

  absl::StatusOr<Replayable<Defect>> create = store.CreateDefect(
      Defect{}, Ctx("op", "CreateDefect", "old-create", kT0, "old-hash"), EncodeDefect);
  ASSERT_TRUE(create.ok()) << create.status();
  ASSERT_TRUE(create->value.has_value());
  EXPECT_EQ(create->value->id, 7);
  EXPECT_EQ(store
                .CreateDefect(Defect{}, Ctx("op", "CreateDefect", "old-create", kT0, "new-hash"),
                              EncodeDefect)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  // Transitions recorded no payload: any payload is the retry, as before.
  absl::StatusOr<Replayable<Defect>> update = store.MutateDefect(
      7, Ctx("qc", "UpdateDefect", "old-update", kT0, "anything"), nullptr, EncodeDefect);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->value->id, 7);
  pqxx::connection conn(*url);
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM defect.request_log")[0].as<int>(), 2);
}

}  // namespace
}  // namespace plantmesh::defect
