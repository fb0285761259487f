// A second service hosted beside the defect service by the same path a product service
// takes (tests/notes): its generated base and SDK client over mTLS, authorization from
// its contract, its own [notes] config section, schema, migrations and named statements
// — one of them named like a defect statement (history_of) on the shared pool.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "plantmesh/notes/v1/note_service.pm_client.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

using ::testing::ElementsAre;

class NotesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MeshOptions options;
    options.server_args = {"--notes.max-text-chars", "12"};
    options.customize = [](testing::ServerProcess::Options& server) {
      server.binary = PLANTMESH_TEST_SERVER_BIN;
      server.services = {"defect", "notes"};
    };
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(std::move(options));
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = mesh->release();
    ASSERT_TRUE(mesh_->SeedReferenceData().ok());
  }
  static void TearDownTestSuite() {
    delete mesh_;
    mesh_ = nullptr;
  }

  static sdk::NoteClient Notes(const std::string& user) {
    absl::StatusOr<sdk::NoteClient> client = sdk::NoteClient::Connect(mesh_->OptionsFor(user));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  static Mesh* mesh_;
};

Mesh* NotesTest::mesh_ = nullptr;

TEST_F(NotesTest, BothServicesAreHostedAndShareThePoolWithoutStatementClashes) {
  absl::StatusOr<system::v1::WhoAmIResponse> me = mesh_->System("otto").WhoAmI({});
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_THAT(me->services(), ::testing::IsSupersetOf({"plantmesh.defect.v1.DefectService",
                                                       "plantmesh.notes.v1.NoteService"}));

  sdk::NoteClient notes = Notes("otto");
  notes::v1::CreateNoteRequest create;
  create.set_text("shift start");
  create.set_request_id("note-1");
  absl::StatusOr<notes::v1::CreateNoteResponse> created = notes.CreateNote(create);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->note().author(), me->identity());
  // A retry returns the stored note.
  absl::StatusOr<notes::v1::CreateNoteResponse> retried = notes.CreateNote(create);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->note().id(), created->note().id());

  // Both services' `history_of` statements, on the same pooled connections.
  absl::StatusOr<notes::v1::GetNoteHistoryResponse> history = notes.GetNoteHistory({});
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->notes_size(), 1);
  EXPECT_EQ(history->notes(0).text(), "shift start");

  defect::v1::CreateDefectRequest report;
  *report.mutable_defect() = SampleDefect("WVWZZZ1JZXW000001");
  absl::StatusOr<defect::v1::CreateDefectResponse> reported =
      mesh_->Defects("otto").CreateDefect(report);
  ASSERT_TRUE(reported.ok()) << reported.status();
  defect::v1::GetDefectHistoryRequest defect_history;
  defect_history.set_id(reported->defect().id());
  absl::StatusOr<defect::v1::GetDefectHistoryResponse> entries =
      mesh_->Defects("otto").GetDefectHistory(defect_history);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ(entries->entries_size(), 1);
}

// Its migrations create only its own table; the runtime adds the outbox and the request
// log to its schema, as to every service's.
TEST_F(NotesTest, TheRuntimeAddsItsTablesToTheSchema) {
  pqxx::connection conn(mesh_->database_url());
  pqxx::nontransaction tx(conn);
  for (const char* table :
       {"notes.notes", "notes.outbox", "notes.request_log", "notes.outbox_stream"}) {
    EXPECT_FALSE(tx.exec_params1("SELECT to_regclass($1)::text", table)[0].is_null()) << table;
  }
  EXPECT_EQ(tx.exec1("SELECT max(version) FROM notes.runtime_migrations")[0].as<int>(), 3);
  // 0003: outbox payloads are stored uncompressed ('e'xternal).
  EXPECT_EQ(
      tx.exec1("SELECT attstorage FROM pg_attribute WHERE attrelid = 'notes.outbox'::regclass "
               "AND attname = 'payload'")[0]
          .as<std::string>(),
      "e");
}

// A stored note and its audit row commit in one transaction (same xmin), as every
// service's acknowledged change does: a crash right after the answer loses neither.
TEST_F(NotesTest, TheAuditRowCommitsWithTheNote) {
  notes::v1::CreateNoteRequest create;
  create.set_text("audited");
  create.set_request_id("note-audit");
  ASSERT_TRUE(Notes("otto").CreateNote(create).ok());
  pqxx::connection conn(mesh_->database_url());
  pqxx::nontransaction tx(conn);
  const pqxx::row same = tx.exec_params1(
      "SELECT count(*) FROM notes.notes n JOIN audit.audit_log a ON a.xmin::text = "
      "n.xmin::text WHERE n.request_id = $1 AND a.method IN ($2, $3) AND a.status_code = 0",
      "note-audit", "plantmesh.notes.v1.NoteService.CreateNote",
      "/plantmesh.notes.v1.NoteService/CreateNote");
  EXPECT_EQ(same[0].as<int>(), 1);
}

TEST_F(NotesTest, ItsConfigSectionApplies) {
  notes::v1::CreateNoteRequest create;
  create.set_text("thirteen char");  // 13 > --notes.max-text-chars 12
  create.set_request_id("note-long");
  absl::StatusOr<notes::v1::CreateNoteResponse> created = Notes("otto").CreateNote(create);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(created.status().message()), ::testing::HasSubstr("max-text-chars"));
}

TEST_F(NotesTest, AuthorizationComesFromItsContract) {
  notes::v1::CreateNoteRequest create;
  create.set_text("not mine");
  create.set_request_id("note-denied");
  EXPECT_EQ(Notes("quinn").CreateNote(create).status().code(),
            absl::StatusCode::kPermissionDenied);  // qc_engineer is not in the contract
  EXPECT_TRUE(Notes("manager").GetNoteHistory({}).ok());
  EXPECT_EQ(Notes("manager").CreateNote(create).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace plantmesh::e2e
