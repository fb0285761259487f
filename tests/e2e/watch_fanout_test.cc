// Many watchers on one server: every one sees every event in order (one change a
// message, or several: max_changes_per_response), and a watcher whose client stops
// reading is ended with a resumable status (UNAVAILABLE WATCH_TOO_SLOW and its cursor)
// without holding the others back; resuming from that cursor loses nothing.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "plantmesh/defect/v1/defect_service.grpc.pb.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"
#include "tests/support/poll.h"

namespace plantmesh::e2e {
namespace {

using defect::v1::WatchDefectsRequest;
using defect::v1::WatchDefectsResponse;

constexpr int kWatchers = 200;  // the bench runs 1,000
constexpr int kEvents = 150;    // well over the queue of 64 the server gets here
constexpr char kQueue[] = "64";
constexpr int kWriterLead = 32;  // events the writer may be ahead of the slowest reading watcher

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A client that reads only when told to: its own connection with a tiny HTTP/2 window
// and no BDP probing, so the server's writes block as soon as it stops reading.
class StalledWatcher {
 public:
  StalledWatcher(const sdk::ClientOptions& options, const std::string& cursor) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFile(options.ca_file);
    tls.pem_private_key = ReadFile(options.key_file);
    tls.pem_cert_chain = ReadFile(options.cert_file);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = defect::v1::DefectService::NewStub(
        grpc::CreateCustomChannel(options.endpoint, grpc::SslCredentials(tls), args));
    WatchDefectsRequest request;
    request.set_cursor(cursor);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    reader_ = stub_->WatchDefects(&context_, request);
  }
  // Reads to the end of the stream.
  std::vector<std::string> ReadAll(absl::Status* end) {
    std::vector<std::string> vins;
    WatchDefectsResponse response;
    while (reader_->Read(&response)) vins.push_back(response.event().defect().vin());
    *end = sdk::FromGrpcStatus(reader_->Finish());
    return vins;
  }

 private:
  std::unique_ptr<defect::v1::DefectService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<WatchDefectsResponse>> reader_;
};

TEST(WatchFanoutTest, EveryWatcherSeesEveryEventAndAStalledOneIsEndedResumably) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or =
      Mesh::Start(MeshOptions{{"--watch-queue-events", kQueue}, nullptr, nullptr});
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  sdk::DefectClient otto = mesh.Defects("otto");
  auto listed = otto.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  const std::string cursor = listed->watch_cursor();
  ASSERT_FALSE(cursor.empty());

  StalledWatcher stalled(mesh.OptionsFor("manager"), cursor);

  // A few clients (channels) share the watchers, as screens behind one gateway would.
  std::vector<std::unique_ptr<sdk::DefectClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<sdk::DefectClient>(mesh.Defects("manager")));
  }
  absl::Mutex mu;
  std::vector<std::vector<std::string>> seen(kWatchers);
  std::vector<absl::Status> ends(kWatchers);
  // How many events each watcher has read (kEvents once it has ended).
  std::vector<std::atomic<int>> read(kWatchers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWatchers; ++w) {
    threads.emplace_back([&, w] {
      WatchDefectsRequest request;
      request.set_cursor(cursor);
      // Half of them take what waits for them in one message (max_changes_per_response).
      const bool coalesced = w % 2 == 1;
      if (coalesced) request.set_max_changes_per_response(10);
      auto stream = clients[w % clients.size()]->WatchDefects(
          request, sdk::CallOptions::WithTimeout(absl::Seconds(120)));
      WatchDefectsResponse response;
      std::vector<std::string> vins;
      while (static_cast<int>(vins.size()) < kEvents && stream->Next(&response)) {
        if (!coalesced) vins.push_back(response.event().defect().vin());
        for (const WatchDefectsResponse::Change& change : response.changes()) {
          vins.push_back(change.event().defect().vin());
        }
        read[w] = static_cast<int>(vins.size());
      }
      read[w] = kEvents;
      stream->Cancel();
      absl::Status end = vins.size() == kEvents ? absl::OkStatus() : stream->Finish();
      absl::MutexLock lock(&mu);
      seen[w] = std::move(vins);
      ends[w] = end;
    });
  }
  std::vector<std::string> expected;
  for (int i = 0; i < kEvents; ++i) {
    // Only the stalled watcher may fall a queue behind: the others are waited for (under
    // TSan 200 reading threads fell behind a writer paced by the clock alone).
    ASSERT_TRUE(testing::PollUntil(
        [&] {
          for (const std::atomic<int>& count : read) {
            if (count.load() < i - kWriterLead) return false;
          }
          return true;
        },
        absl::Minutes(2)));
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(absl::StrCat("VIN-FAN-", i));
    auto created = otto.CreateDefect(request);
    ASSERT_TRUE(created.ok()) << Describe(created.status());
    expected.push_back(absl::StrCat("VIN-FAN-", i));
    // The pace of a busy line (50 changes/s), not synchronisation.
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (std::thread& t : threads) t.join();
  int complete = 0;
  for (int w = 0; w < kWatchers; ++w) {
    EXPECT_EQ(seen[w], expected) << "watcher " << w << " ended: " << Describe(ends[w]);
    if (seen[w] == expected) ++complete;
  }
  RecordProperty("watchers_complete", complete);

  // The stalled client reads now: what was queued for it, then the resumable end.
  absl::Status end;
  std::vector<std::string> got = stalled.ReadAll(&end);
  ASSERT_EQ(end.code(), absl::StatusCode::kUnavailable) << Describe(end);
  EXPECT_EQ(sdk::ErrorReason(end), "WATCH_TOO_SLOW");
  const std::string resume = sdk::ErrorMetadata(end, "cursor");
  ASSERT_FALSE(resume.empty()) << Describe(end);
  ASSERT_LT(got.size(), expected.size());
  WatchDefectsRequest request;
  request.set_cursor(resume);
  auto rest = otto.WatchDefects(request, sdk::CallOptions::WithTimeout(absl::Seconds(60)));
  WatchDefectsResponse response;
  while (got.size() < expected.size() && rest->Next(&response)) {
    got.push_back(response.event().defect().vin());
  }
  rest->Cancel();
  EXPECT_EQ(got, expected) << "resuming from the cursor of the end status lost or repeated";
  std::printf("stalled watcher: ended after its queue filled, resumed from %s\n", resume.c_str());
}

// Idle watchers hold no server thread: many WatchDefects streams with nothing to send
// stay open on the server while its thread count stays put, and each still gets the
// next change.
TEST(WatchFanoutTest, IdleWatchersDoNotGrowTheServersThreads) {
  constexpr int kIdle = 300;
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());
  sdk::DefectClient otto = mesh.Defects("otto");
  auto listed = otto.ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(listed.ok()) << Describe(listed.status());
  // From the list's cursor every watcher gets the change below, however late the server
  // subscribed it.
  const std::string cursor = listed->watch_cursor();
  ASSERT_FALSE(cursor.empty());
  const int pid = mesh.server().pid();
  ASSERT_GT(pid, 0);
  const int before = ThreadsOf(pid);

  std::vector<std::unique_ptr<sdk::DefectClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<sdk::DefectClient>(mesh.Defects("manager")));
  }
  std::vector<std::unique_ptr<sdk::ReadStream<WatchDefectsResponse>>> watchers;
  WatchDefectsRequest request;
  request.set_cursor(cursor);
  for (int w = 0; w < kIdle; ++w) {
    watchers.push_back(clients[w % clients.size()]->WatchDefects(
        request, sdk::CallOptions::WithTimeout(absl::Seconds(120))));
  }
  defect::v1::CreateDefectRequest create;
  *create.mutable_defect() = SampleDefect("VIN-IDLE-WATCHERS");
  ASSERT_TRUE(otto.CreateDefect(create).ok());
  // Every watcher is open on the server: each gets the change, then is idle again.
  for (int w = 0; w < kIdle; ++w) {
    WatchDefectsResponse response;
    ASSERT_TRUE(watchers[w]->Next(&response))
        << "watcher " << w << ": " << Describe(watchers[w]->Finish());
    EXPECT_EQ(response.event().defect().vin(), "VIN-IDLE-WATCHERS");
  }
  const int with_watchers = ThreadsOf(pid);
  // A unary call still gets a handler thread.
  ASSERT_TRUE(otto.ListDefects(defect::v1::ListDefectsRequest()).ok());
  RecordProperty("threads_before", before);
  RecordProperty("threads_with_idle_watchers", with_watchers);
  std::printf("server threads: %d before, %d with %d idle watchers\n", before, with_watchers,
              kIdle);
  // Room for gRPC's lazily grown executor and timer threads under the burst of opens (a
  // few more on a busy machine), not a thread per watcher.
  EXPECT_LE(with_watchers, before + kIdle / 10)
      << kIdle << " idle watchers grew the server's threads";

  // Still alive: each gets the next change too.
  *create.mutable_defect() = SampleDefect("VIN-IDLE-WATCHERS-2");
  ASSERT_TRUE(otto.CreateDefect(create).ok());
  for (int w = 0; w < kIdle; ++w) {
    WatchDefectsResponse response;
    ASSERT_TRUE(watchers[w]->Next(&response)) << "watcher " << w;
    EXPECT_EQ(response.event().defect().vin(), "VIN-IDLE-WATCHERS-2");
  }
  for (auto& watcher : watchers) watcher->Cancel();
}

}  // namespace
}  // namespace plantmesh::e2e
