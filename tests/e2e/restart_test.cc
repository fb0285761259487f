// Clients ride through a server restart (issue 11): plantmesh-server is killed
// (SIGKILL, no drain) and started again on the same port while SDK clients call it.
// Calls succeed again within 1 s of it being back, and none issued after it was back
// fails; a refused client certificate is still reported at once; the SDK's ListWatch
// resumes from its cursor and misses nothing.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/defect_list_watch.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/defect_writer.h"
#include "tests/e2e/mesh.h"
#include "tests/support/loopback.h"
#include "tests/support/poll.h"
#include "tests/support/slow_build.h"

namespace plantmesh::e2e {
namespace {

using ::testing::HasSubstr;

// Calls WhoAmI at a steady rate on one client until stopped: one call issued every
// `period` whatever the previous ones do (each on its own thread, as independent
// requests of an integrator's program would be), each with `deadline`. Remembers when
// each call was issued and ended, and how.
class SteadyCaller {
 public:
  struct Call {
    absl::Time issued;
    absl::Time ended;
    absl::Status status;
  };

  SteadyCaller(sdk::SystemClient client, absl::Duration period, absl::Duration deadline)
      : client_(std::move(client)) {
    ticker_ = std::thread([this, period, deadline] {
      absl::Time next = absl::Now();
      while (!stop_.load()) {
        calls_in_flight_.emplace_back([this, deadline] {
          const absl::Time issued = absl::Now();
          absl::Status status =
              client_.WhoAmI({}, sdk::CallOptions::WithTimeout(deadline)).status();
          const absl::Time ended = absl::Now();
          absl::MutexLock lock(&mu_);
          calls_.push_back({issued, ended, std::move(status)});
        });
        next += period;
        absl::SleepFor(next - absl::Now());  // the rate of the scenario, not synchronisation
      }
    });
  }
  ~SteadyCaller() { Stop(); }
  void Stop() {
    stop_ = true;
    if (ticker_.joinable()) ticker_.join();
    for (std::thread& call : calls_in_flight_) call.join();
    calls_in_flight_.clear();
  }
  // Waits until `count` calls issued at or after `since` have ended.
  bool AwaitCallsSince(absl::Time since, int count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int n = 0;
      for (const Call& call : calls_) n += call.issued >= since ? 1 : 0;
      return n >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::vector<Call> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  sdk::SystemClient client_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> calls_in_flight_;  // only the ticker thread adds
  std::thread ticker_;
};

// The issue's bound: after the server is back, calls succeed again within 1 s (a
// generous bound for CI; bench B12 reports the exact figure; a sanitizer build, whose
// handshakes and first answers are 5-20× slower, is held to kSlowBuild times it), and no
// call fails that was issued after the server was back. The server stays down for 5 s: by then
// gRPC's reconnect backoff (×1.6 per failed attempt) spaces attempts more than a second apart, so
// only the SDK's reset of it by waiting calls (ReconnectOptions:: max_backoff_while_calls_wait)
// meets the bound; a slow restart (a sanitizer build on a busy machine) is the same case.
TEST(RestartTest, SdkCallsSucceedAgainWithinASecondOfTheServerBeingBack) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  // One shared channel, 100 calls/s with 1 s deadlines, as plantmesh-loadgen
  // --channels shared --rate 100 --deadline 1 (the issue's measurement).
  absl::StatusOr<sdk::SystemClient> client =
      sdk::SystemClient::Connect((*mesh)->OptionsFor("otto"));
  ASSERT_TRUE(client.ok()) << Describe(client.status());
  const absl::Duration bound = plantmesh::testing::kSlowBuild * absl::Seconds(1);
  SteadyCaller caller(*client, absl::Milliseconds(10), bound);
  ASSERT_TRUE(caller.AwaitCallsSince(absl::InfinitePast(), 20, absl::Seconds(30)));

  const absl::Time killed = absl::Now();
  // Down until a call issued 5 s after the kill has ended (failed): by then the clients'
  // reconnect attempts have been failing for 5 s.
  ASSERT_TRUE((*mesh)
                  ->KillAndRestartServerOnSamePort([&] {
                    ASSERT_TRUE(
                        caller.AwaitCallsSince(killed + absl::Seconds(5), 1, absl::Seconds(60)));
                  })
                  .ok());
  // The new server printed LISTENING: it accepts connections from here on.
  const absl::Time back = (*mesh)->server().listening_since();
  const absl::Time healthy = absl::Now();

  // Two seconds' worth of calls issued after the server was back (each ended).
  ASSERT_TRUE(caller.AwaitCallsSince(back + absl::Seconds(1), 100, absl::Seconds(60)));
  caller.Stop();
  int failed_before_back = 0;
  absl::Time first_ok_ended = absl::InfiniteFuture();
  for (const SteadyCaller::Call& call : caller.calls()) {
    if (call.status.ok() && call.ended >= back) {
      first_ok_ended = std::min(first_ok_ended, call.ended);
    }
    if (call.status.ok()) continue;
    if (call.issued < back) {
      ++failed_before_back;
    } else {
      ADD_FAILURE() << "a call issued " << absl::FormatDuration(call.issued - back)
                    << " after the server was back failed after "
                    << absl::FormatDuration(call.ended - call.issued) << ": "
                    << Describe(call.status);
    }
  }
  EXPECT_LE(first_ok_ended - back, bound)
      << "no call succeeded within " << bound << " of the server being back";
  // Figures for the log (bench B12 measures them properly).
  std::printf(
      "server down (kill to LISTENING) %.3f s, LISTENING to healthy %.3f s; first success "
      "ended %.3f s after LISTENING; %d calls issued before failed\n",
      absl::ToDoubleSeconds(back - killed), absl::ToDoubleSeconds(healthy - back),
      absl::ToDoubleSeconds(first_ok_ended - back), failed_before_back);
}

TEST(RestartTest, RefusedCertificateIsStillReportedAtOnce) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  absl::StatusOr<std::unique_ptr<testing::TestPki>> other = testing::TestPki::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<testing::TestPki::Client> mallory = (*other)->IssueClient("otto", {"operator"});
  ASSERT_TRUE(mallory.ok()) << mallory.status();
  sdk::ClientOptions options = (*mesh)->OptionsFor("otto");
  options.cert_file = mallory->cert_file;
  options.key_file = mallory->key_file;
  options.default_deadline = absl::Seconds(30);

  // A retry-safe method (WhoAmI) and one that is not (CreateDefect), each on a fresh
  // channel and then once more on it: every call says "handshake", none waits.
  auto expect_handshake_failure = [](const absl::Status& status, absl::Time started,
                                     const char* what) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << what << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("TLS handshake failed")) << what;
    EXPECT_LT(absl::Now() - started, absl::Seconds(5)) << what << ": waited for the deadline";
  };
  absl::StatusOr<sdk::SystemClient> system = sdk::SystemClient::Connect(options);
  ASSERT_TRUE(system.ok());
  for (const char* what : {"WhoAmI, first call", "WhoAmI, second call"}) {
    const absl::Time started = absl::Now();
    expect_handshake_failure(system->WhoAmI({}).status(), started, what);
  }
  absl::StatusOr<sdk::DefectClient> defects = sdk::DefectClient::Connect(options);
  ASSERT_TRUE(defects.ok());
  for (const char* what : {"CreateDefect, first call", "CreateDefect, second call"}) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect("VIN-REFUSED");
    const absl::Time started = absl::Now();
    expect_handshake_failure(defects->CreateDefect(request).status(), started, what);
  }
}

TEST(RestartTest, SdkListWatchResumesAcrossARestartAndMissesNothing) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_TRUE((*mesh)->SeedReferenceData().ok());
  sdk::DefectClient watcher_client = (*mesh)->Defects("anna");
  defect::v1::ListDefectsRequest filter;
  filter.set_zone("PAINT");
  filter.set_page_size(5);  // several pages
  sdk::DefectListWatch list_watch(sdk::DefectListWatchSource(&watcher_client, filter));

  absl::Mutex mu;
  std::map<std::string, int> upserts;  // id -> times delivered
  std::set<std::string> listed;
  sdk::ListWatchHandlers<defect::v1::Defect> handlers;
  handlers.on_list = [&](const std::vector<defect::v1::Defect>& items) {
    absl::MutexLock lock(&mu);
    for (const auto& item : items) listed.insert(item.id());
  };
  handlers.on_upsert = [&](const defect::v1::Defect& item) {
    absl::MutexLock lock(&mu);
    ++upserts[item.id()];
  };
  absl::Status run_status;
  DefectWriter writer((*mesh)->Defects("otto"), absl::Milliseconds(20), "VIN-RESTART-");
  ASSERT_TRUE(writer.AwaitMoreThan(7, absl::Seconds(30)));  // some exist before the list
  std::thread runner([&] { run_status = list_watch.Run(handlers); });

  auto delivered_all = [&](const std::vector<std::string>& ids) {
    absl::MutexLock lock(&mu);
    for (const std::string& id : ids) {
      if (listed.count(id) == 0 && upserts.count(id) == 0) return false;
    }
    return true;
  };
  auto await_delivered = [&](const std::vector<std::string>& ids) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!delivered_all(ids) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    return delivered_all(ids);
  };
  ASSERT_TRUE(writer.AwaitMoreThan(writer.acknowledged().size() + 5, absl::Seconds(30)));
  ASSERT_TRUE(await_delivered(writer.acknowledged()));

  ASSERT_TRUE((*mesh)->KillAndRestartServerOnSamePort().ok());
  ASSERT_TRUE(writer.AwaitMoreThan(writer.acknowledged().size() + 10, absl::Seconds(60)));
  writer.Stop();
  const std::vector<std::string> acknowledged = writer.acknowledged();
  EXPECT_TRUE(await_delivered(acknowledged)) << "the watch missed changes after the restart";
  list_watch.Stop();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << Describe(run_status);

  const sdk::ListWatchStats stats = list_watch.Stats();
  EXPECT_GE(stats.resumes, 1) << "the watch was not cut by the restart";
  EXPECT_EQ(stats.lists, 1) << "resumed by listing again, not from the cursor";
  {
    absl::MutexLock lock(&mu);
    for (const std::string& id : acknowledged) {
      EXPECT_EQ(listed.count(id) + static_cast<size_t>(upserts[id]), 1u)
          << "defect " << id << " delivered more than once";
    }
  }
  // The cache equals what the server lists now.
  std::map<std::string, int64_t> expected;
  absl::StatusOr<std::vector<defect::v1::Defect>> all = watcher_client.ListAllDefects(filter);
  ASSERT_TRUE(all.ok()) << Describe(all.status());
  for (const auto& defect : *all) expected[defect.id()] = defect.revision();
  std::map<std::string, int64_t> cached;
  for (const auto& [id, defect] : list_watch.Items()) cached[id] = defect.revision();
  EXPECT_EQ(cached, expected);
  // Creations in flight at the kill were resent by the SDK, not lost.
  EXPECT_THAT(writer.failures(), ::testing::IsEmpty());
}

// Outside testing: one moment out of file descriptors (an operator's `ulimit -n 256` and
// 300 connections that sent nothing) left the server running, SERVING on its probe port
// and deaf on its mTLS port for good: gRPC 1.51 does not accept on a port again after
// such an accept error. The server stops instead, exit 1, for its supervisor to start it.
TEST(RestartTest, AServerOutOfFileDescriptorsStopsForItsSupervisorToStartItAgain) {
#if defined(__SANITIZE_ADDRESS__)
  // The ASan build carries UBSan, whose vptr check tests memory through a pipe: out of
  // descriptors it reports every std::thread made as an object with an invalid vptr.
  GTEST_SKIP() << "the sanitizer runtime itself needs file descriptors";
#endif
  MeshOptions options;
  options.customize = [](testing::ServerProcess::Options& server) { server.open_file_limit = 256; };
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(options);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  testing::ServerProcess& server = (*mesh)->server();
  EXPECT_THAT(server.log(), HasSubstr("open-file limit 256 (hard 256): low for a server"));

  // Connections that never begin their handshake, more than the limit leaves room for.
  std::vector<int> sockets;
  const sockaddr_in address = testing::LoopbackAddress(server.port());
  for (int i = 0; i < 300 && server.running(); ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockets.push_back(fd);
    (void)connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  }
  EXPECT_TRUE(testing::PollUntil([&] { return !server.running(); }, absl::Seconds(60)))
      << server.log();
  for (int fd : sockets) close(fd);
  EXPECT_EQ(server.Terminate(), 1);
  const std::string log = server.log();
  EXPECT_THAT(log, HasSubstr("a listener stopped accepting connections for good (gRPC: Failed "
                             "accept4: Too many open files"));
  EXPECT_THAT(log, HasSubstr("the open-file limit is 256"));
  EXPECT_THAT(log, HasSubstr("draining for up to"));
}

}  // namespace
}  // namespace plantmesh::e2e
