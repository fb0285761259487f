// Backup and restore as docs/runbook.md ("Back up and restore") documents it: data is
// written through the API, the runbook's backup block runs verbatim (read from the
// runbook, so the page and the test cannot drift apart), more is written after the
// backup, the server is stopped, the runbook's restore block runs verbatim (it drops the
// database), and then:
//   - every table of the restored database (defects, history, photos, audit rows, ...)
//     equals what it was at the backup, row by row and byte for byte (a SHA-256 over its
//     rows, compared before the server starts again); a negative control alters a photo
//     byte and an audit row and sees the check fail;
//   - the restarted server answers Get/History/Download/List as before the backup (the
//     photo's SHA-256 too), and knows nothing written after it;
//   - a cursor taken after the backup is refused with CURSOR_GENERATION_CHANGED (the
//     stream still holds the lost events: no silent mix), and a fresh list + watch works.
// Stopping and starting the server (systemctl in the runbook) is done by the test.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"

namespace plantmesh::e2e {
namespace {

using defect::v1::WatchDefectsRequest;
using defect::v1::WatchDefectsResponse;

constexpr absl::Duration kStreamTimeout = absl::Seconds(20);

// The shell block that follows "<!-- tested: <name> -->" in docs/runbook.md.
std::string RunbookBlock(const std::string& name) {
  std::ifstream file(std::string(PLANTMESH_SOURCE_DIR) + "/docs/runbook.md");
  std::stringstream text;
  text << file.rdbuf();
  const std::string marker = absl::StrCat("<!-- tested: ", name, " -->");
  std::string block;
  bool after_marker = false;
  bool inside = false;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (!after_marker) {
      after_marker = trimmed == marker;
      continue;
    }
    if (!inside) {
      if (trimmed == "```sh") inside = true;
      continue;
    }
    if (trimmed == "```") return block;
    absl::StrAppend(&block, trimmed, "\n");
  }
  return "";
}

// Runs a runbook block with bash -eu -o pipefail and the runbook's variables.
absl::Status RunRunbookBlock(const std::string& name, const std::vector<std::string>& env,
                             const std::string& dir) {
  const std::string block = RunbookBlock(name);
  if (block.empty()) return absl::NotFoundError(absl::StrCat("no runbook block ", name));
  const std::string script = absl::StrCat(dir, "/", name, ".sh");
  if (absl::Status written = testing::internal::WriteFileAtomically(script, block); !written.ok()) {
    return written;
  }
  testing::internal::SpawnOptions options = testing::internal::Command(
      {"bash", "-eu", "-o", "pipefail", script}, absl::StrCat(dir, "/", name, ".log"));
  options.env = env;
  return testing::internal::RunToCompletion(options, absl::Minutes(2));
}

// Per table of every PlantMesh schema: "<rows> <sha256 of its rows as text, sorted>".
// A row's text form carries every column, bytea as hex: equal fingerprints are equal
// contents byte for byte.
std::map<std::string, std::string> Fingerprint(pqxx::transaction_base& tx) {
  std::map<std::string, std::string> tables;
  pqxx::result names = tx.exec(
      "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM "
      "information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
      "('pg_catalog', 'information_schema') ORDER BY 1");
  for (const pqxx::row& name : names) {
    const std::string table = name[0].as<std::string>();
    pqxx::row row = tx.exec1(
        "SELECT count(*) || ' ' || coalesce(encode(sha256(convert_to(string_agg(t::text, "
        "E'\\n' ORDER BY t::text), 'UTF8')), 'hex'), '') FROM " +
        table + " t");
    tables[table] = row[0].as<std::string>();
  }
  return tables;
}

std::map<std::string, std::string> Fingerprint(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::read_transaction tx(conn);
  return Fingerprint(tx);
}

int64_t Count(const std::string& url, const std::string& table) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT count(*) FROM " + table)[0].as<int64_t>();
}

std::string Report(sdk::DefectClient& otto, const std::string& vin) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect(vin);
  auto created = otto.CreateDefect(request);
  EXPECT_TRUE(created.ok()) << Describe(created.status());
  return created.ok() ? created->defect().id() : "";
}

// What the API answers about the data written before the backup.
struct ApiView {
  std::map<std::string, std::string> defects;  // id -> Defect, serialized
  std::map<std::string, std::string> history;  // id -> GetDefectHistoryResponse, serialized
  std::string photo_sha256;                    // of the downloaded bytes
  std::vector<std::string> listed;             // ids ListDefects returns
};

ApiView ReadApi(Mesh& mesh, const std::vector<std::string>& ids, const std::string& photo_id) {
  ApiView view;
  sdk::DefectClient anna = mesh.Defects("anna");
  for (const std::string& id : ids) {
    defect::v1::GetDefectRequest get;
    get.set_id(id);
    auto got = anna.GetDefect(get);
    EXPECT_TRUE(got.ok()) << id << ": " << Describe(got.status());
    if (got.ok()) view.defects[id] = got->defect().SerializeAsString();
    defect::v1::GetDefectHistoryRequest history;
    history.set_id(id);
    auto entries = anna.GetDefectHistory(history);
    EXPECT_TRUE(entries.ok()) << id << ": " << Describe(entries.status());
    if (entries.ok()) view.history[id] = entries->SerializeAsString();
  }
  defect::v1::DownloadDefectPhotoRequest download;
  download.set_defect_id(ids.back());
  download.set_photo_id(photo_id);
  auto stream = anna.DownloadDefectPhoto(download);
  defect::v1::DownloadDefectPhotoResponse message;
  std::string bytes;
  while (stream->Next(&message)) bytes += message.chunk();
  absl::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << Describe(finished);
  view.photo_sha256 = common::Sha256Hex(bytes);
  auto listed = anna.ListDefects(defect::v1::ListDefectsRequest());
  EXPECT_TRUE(listed.ok()) << Describe(listed.status());
  if (listed.ok()) {
    for (const auto& defect : listed->defects()) view.listed.push_back(defect.id());
  }
  return view;
}

// The first `n` events of `stream`, fewer if it ends.
template <typename Stream>
std::vector<defect::v1::DefectEvent> ReadEvents(Stream& stream, size_t n) {
  std::vector<defect::v1::DefectEvent> events;
  WatchDefectsResponse response;
  while (events.size() < n && stream.Next(&response)) {
    if (response.has_event()) events.push_back(response.event());
  }
  return events;
}

TEST(BackupRestoreTest, RestoresEveryRowByteForByteAndWatchersListAgain) {
  // A Redis of its own: the stream's contents are part of what is checked.
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{}, redis->get(), nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  const std::string url = mesh.database_url();

  // Data through the API: a defect through its whole lifecycle, one cancelled, one with
  // a photo (binary, several chunks); each change also writes its audit row.
  sdk::DefectClient otto = mesh.Defects("otto");
  const std::string repaired = Report(otto, "VIN-BACKUP-1");
  const std::string cancelled = Report(otto, "VIN-BACKUP-2");
  const std::string photographed = Report(otto, "VIN-BACKUP-3");
  ASSERT_FALSE(repaired.empty() || cancelled.empty() || photographed.empty());
  {
    defect::v1::AssignDefectRequest assign;
    assign.set_id(repaired);
    assign.set_repair_place_id("RP-01");
    assign.set_mechanic_id("M-107");
    auto assigned = mesh.Defects("anna").AssignDefect(assign);
    ASSERT_TRUE(assigned.ok()) << Describe(assigned.status());
    defect::v1::StartRepairRequest start;
    start.set_id(repaired);
    auto started = mesh.Defects("mike").StartRepair(start);
    ASSERT_TRUE(started.ok()) << Describe(started.status());
    defect::v1::FinishRepairRequest finish;
    finish.set_id(repaired);
    finish.set_work_done("Polished and sealed");
    finish.set_labor_minutes(20);
    auto finished = mesh.Defects("mike").FinishRepair(finish);
    ASSERT_TRUE(finished.ok()) << Describe(finished.status());
    defect::v1::VerifyRepairRequest verify;
    verify.set_id(repaired);
    verify.set_decision(defect::v1::QC_DECISION_ACCEPT);
    auto verified = mesh.Defects("quinn").VerifyRepair(verify);
    ASSERT_TRUE(verified.ok()) << Describe(verified.status());
    defect::v1::CancelDefectRequest cancel;
    cancel.set_id(cancelled);
    cancel.set_reason("Reported twice");
    auto cancelled_ok = mesh.Defects("anna").CancelDefect(cancel);
    ASSERT_TRUE(cancelled_ok.ok()) << Describe(cancelled_ok.status());
  }
  std::string photo(200 * 1024 + 17, '\0');
  std::mt19937 random(42);
  for (char& byte : photo) byte = static_cast<char>(random());
  photo.replace(0, 3, "\xFF\xD8\xFF");  // a JPEG's signature: uploads are checked for it
  std::string photo_id;
  {
    auto upload = otto.UploadDefectPhoto();
    defect::v1::UploadDefectPhotoRequest metadata;
    metadata.mutable_metadata()->set_defect_id(photographed);
    metadata.mutable_metadata()->set_content_type("image/jpeg");
    metadata.mutable_metadata()->set_size_bytes(static_cast<int64_t>(photo.size()));
    metadata.mutable_metadata()->set_sha256(common::Sha256Hex(photo));
    metadata.mutable_metadata()->set_request_id("backup-photo-1");
    ASSERT_TRUE(upload->Write(metadata));
    for (size_t at = 0; at < photo.size(); at += 32 * 1024) {
      defect::v1::UploadDefectPhotoRequest chunk;
      chunk.set_chunk(photo.substr(at, 32 * 1024));
      ASSERT_TRUE(upload->Write(chunk));
    }
    auto uploaded = upload->Finish();
    ASSERT_TRUE(uploaded.ok()) << Describe(uploaded.status());
    photo_id = uploaded->photo().id();
  }
  // Every event published (the outbox empties): the database is at rest.
  ASSERT_TRUE(
      testing::PollUntil([&] { return Count(url, "defect.outbox") == 0; }, absl::Seconds(20)));
  EXPECT_EQ(Count(url, "defect.defects"), 3);
  EXPECT_GE(Count(url, "defect.history"), 8);
  EXPECT_EQ(Count(url, "defect.photos"), 1);
  EXPECT_GE(Count(url, "audit.audit_log"), 9);

  // The backup, as the runbook takes it.
  absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantmesh-backup-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const testing::internal::RemoveTreeOnExit remove_dir(*dir);
  const std::string database = url.substr(url.rfind('/') + 1);
  const char* path = std::getenv("PATH");
  const std::vector<std::string> env = {
      "PGHOST=127.0.0.1",
      absl::StrCat("PGPORT=", testing::SharedPostgres().port()),
      "PGUSER=postgres",
      absl::StrCat("PLANTMESH_DB=", database),
      "PLANTMESH_DB_OWNER=postgres",
      absl::StrCat("BACKUP=", *dir, "/backups/plantmesh.dump"),  // the block makes the folder
      absl::StrCat("PATH=/usr/lib/postgresql/15/bin:", path != nullptr ? path : "/usr/bin:/bin")};
  const std::map<std::string, std::string> at_backup = Fingerprint(url);
  absl::Status backed_up = RunRunbookBlock("backup", env, *dir);
  ASSERT_TRUE(backed_up.ok()) << backed_up;
  // Outside testing: the dump (every record, the audit log, the identities) was readable by
  // every local user.
  for (const std::string& file : {std::string("/backups"), std::string("/backups/plantmesh.dump"),
                                  std::string("/backups/plantmesh.dump.sha256")}) {
    const std::filesystem::perms perms = std::filesystem::status(*dir + file).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << file;
  }
  ASSERT_EQ(Fingerprint(url), at_backup) << "the database changed while the backup ran";
  const ApiView before = ReadApi(mesh, {repaired, cancelled, photographed}, photo_id);
  ASSERT_EQ(before.photo_sha256, common::Sha256Hex(photo));

  // After the backup: a change and a new defect, watched. The watcher's cursor is then
  // past the backup, in events the restored database will not have.
  sdk::DefectClient watcher = mesh.Defects("manager");
  auto listed = watcher.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  WatchDefectsRequest from_list;
  from_list.set_cursor(listed->watch_cursor());
  auto live = watcher.WatchDefects(from_list, sdk::CallOptions::WithTimeout(kStreamTimeout));
  const std::string lost = Report(otto, "VIN-AFTER-BACKUP");
  std::vector<defect::v1::DefectEvent> after_backup = ReadEvents(*live, 1);
  ASSERT_EQ(after_backup.size(), 1u) << Describe(live->Finish());
  EXPECT_EQ(after_backup[0].defect().id(), lost);
  const std::string cursor_after_backup = after_backup[0].cursor();

  // The restore, as the runbook does it: servers stopped, the database replaced.
  ASSERT_TRUE(mesh.StopServer().ok());
  WatchDefectsResponse drained;
  while (live->Next(&drained)) {
  }
  EXPECT_EQ(live->Finish().code(), absl::StatusCode::kUnavailable);  // the server stopped
  absl::Status restored = RunRunbookBlock("restore", env, *dir);
  ASSERT_TRUE(restored.ok()) << restored;

  // Byte for byte, before the server touches it.
  const std::map<std::string, std::string> after_restore = Fingerprint(url);
  EXPECT_EQ(after_restore, at_backup);
  EXPECT_EQ(after_restore.count("defect.photos"), 1u);
  EXPECT_EQ(after_restore.count("audit.audit_log"), 1u);
  // Negative control: the check sees one changed photo byte, and one changed audit row.
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec(
        "UPDATE defect.photos SET bytes = set_byte(bytes, 99999, (get_byte(bytes, 99999) + 1) % "
        "256)");
    std::map<std::string, std::string> altered = Fingerprint(tx);
    EXPECT_NE(altered.at("defect.photos"), at_backup.at("defect.photos"));
    altered.erase("defect.photos");
    std::map<std::string, std::string> others = at_backup;
    others.erase("defect.photos");
    EXPECT_EQ(altered, others);  // nothing else moved
    tx.abort();
  }
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec(
        "UPDATE audit.audit_log SET status_code = status_code + 1 WHERE id = "
        "(SELECT max(id) FROM audit.audit_log)");
    EXPECT_NE(Fingerprint(tx).at("audit.audit_log"), at_backup.at("audit.audit_log"));
    tx.abort();
  }
  ASSERT_EQ(Fingerprint(url), at_backup);  // the controls left nothing behind

  // The server again, on the restored database (Redis kept the stream as it was).
  ASSERT_TRUE(mesh.StartServer().ok());
  EXPECT_NE(mesh.server().log().find("started generation"), std::string::npos)
      << mesh.server().log();
  const ApiView after = ReadApi(mesh, {repaired, cancelled, photographed}, photo_id);
  EXPECT_EQ(after.defects, before.defects);
  EXPECT_EQ(after.history, before.history);
  EXPECT_EQ(after.photo_sha256, common::Sha256Hex(photo));
  EXPECT_EQ(after.listed, before.listed);
  defect::v1::GetDefectRequest get_lost;
  get_lost.set_id(lost);
  auto lost_now = mesh.Defects("anna").GetDefect(get_lost);
  EXPECT_EQ(lost_now.status().code(), absl::StatusCode::kNotFound) << Describe(lost_now.status());

  // The cursor from after the backup: refused, never served from the mixed stream.
  sdk::DefectClient watcher_again = mesh.Defects("manager");
  WatchDefectsRequest stale;
  stale.set_cursor(cursor_after_backup);
  auto refused = watcher_again.WatchDefects(stale, sdk::CallOptions::WithTimeout(kStreamTimeout));
  EXPECT_TRUE(ReadEvents(*refused, 1).empty());
  absl::Status refusal = refused->Finish();
  EXPECT_EQ(refusal.code(), absl::StatusCode::kFailedPrecondition) << Describe(refusal);
  EXPECT_EQ(sdk::ErrorReason(refusal), "CURSOR_GENERATION_CHANGED") << Describe(refusal);
  // The list's cursor from before the backup too.
  stale.set_cursor(listed->watch_cursor());
  auto refused_list =
      watcher_again.WatchDefects(stale, sdk::CallOptions::WithTimeout(kStreamTimeout));
  EXPECT_TRUE(ReadEvents(*refused_list, 1).empty());
  EXPECT_EQ(sdk::ErrorReason(refused_list->Finish()), "CURSOR_GENERATION_CHANGED");

  // List again and watch from its cursor: the next change arrives, nothing else.
  auto relisted = watcher_again.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(relisted.ok()) << Describe(relisted.status());
  EXPECT_EQ(relisted->defects_size(), 3);
  ASSERT_FALSE(relisted->watch_cursor().empty());
  EXPECT_NE(relisted->watch_cursor().substr(0, 16), cursor_after_backup.substr(0, 16));
  WatchDefectsRequest fresh;
  fresh.set_cursor(relisted->watch_cursor());
  auto watching = watcher_again.WatchDefects(fresh, sdk::CallOptions::WithTimeout(kStreamTimeout));
  sdk::DefectClient otto_again = mesh.Defects("otto");  // the server's port changed
  const std::string next = Report(otto_again, "VIN-AFTER-RESTORE");
  std::vector<defect::v1::DefectEvent> events = ReadEvents(*watching, 1);
  ASSERT_EQ(events.size(), 1u) << Describe(watching->Finish());
  EXPECT_EQ(events[0].defect().id(), next);
  // Outside testing: the id handed out after the backup was handed out again, and a client
  // that held it (with etag v1) cancelled the other vehicle's defect. New ids start past it.
  EXPECT_GT(std::stoll(next), std::stoll(lost));
  EXPECT_NE(mesh.server().log().find("new ids start past those"), std::string::npos);
  lost_now = mesh.Defects("anna").GetDefect(get_lost);
  EXPECT_EQ(lost_now.status().code(), absl::StatusCode::kNotFound) << Describe(lost_now.status());
  // From the oldest retained event: only what the restored database published.
  WatchDefectsRequest oldest;
  oldest.set_cursor("0");
  auto from_oldest =
      watcher_again.WatchDefects(oldest, sdk::CallOptions::WithTimeout(kStreamTimeout));
  std::vector<defect::v1::DefectEvent> retained = ReadEvents(*from_oldest, 1);
  ASSERT_EQ(retained.size(), 1u) << Describe(from_oldest->Finish());
  EXPECT_EQ(retained[0].defect().id(), next);
}

}  // namespace
}  // namespace plantmesh::e2e
