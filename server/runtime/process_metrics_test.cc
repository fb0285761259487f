// The process metrics against real parts: an EventHub on a real Redis (subscribers,
// subscribers ended for falling behind, Redis up) and a certificate file (expiry).
#include "server/runtime/process_metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/runtime/event_hub.h"
#include "server/runtime/event_stream.h"
#include "server/runtime/redis_client.h"
#include "server/runtime/role_bindings.h"
#include "server/runtime/tls.h"
#include "server/runtime/tls_files.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

constexpr char kKey[] = "plantmesh:test:events";
constexpr absl::Duration kWait = absl::Seconds(20);

// The value of `name`'s only sample, or nullopt when it has none (or is missing).
std::optional<double> Read(const MetricsRegistry& registry, const std::string& name) {
  for (const MetricFamilySnapshot& family : registry.Collect()) {
    if (family.name != name) continue;
    if (family.samples.size() != 1) return std::nullopt;
    return family.samples[0].value;
  }
  return std::nullopt;
}

bool HasFamily(const MetricsRegistry& registry, const std::string& name) {
  for (const MetricFamilySnapshot& family : registry.Collect()) {
    if (family.name == name) return true;
  }
  return false;
}

TEST(ProcessMetrics, EventHubSubscribersAndTheOnesEndedForFallingBehind) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  EventHubOptions options;
  options.redis.port = (*redis)->port();
  options.queue_capacity = 2;
  options.block = absl::Milliseconds(100);
  EventHub hub(options, {kKey});
  hub.Start();
  ASSERT_TRUE(hub.AwaitConnected(kWait));

  MetricsRegistry registry;
  AddProcessMetrics({"1.2.3", "abc", nullptr, &hub, nullptr}, &registry);
  const std::string subscribers = "plantmesh_event_hub_subscribers";
  const std::string too_slow = "plantmesh_event_hub_subscribers_too_slow_total";
  EXPECT_EQ(Read(registry, subscribers), 0);
  EXPECT_EQ(Read(registry, "plantmesh_redis_up"), 1);
  EXPECT_FALSE(HasFamily(registry, "plantmesh_postgres_pool_connections"));  // no pool
  EXPECT_FALSE(HasFamily(registry, "plantmesh_tls_certificate_expiry_timestamp_seconds"));

  absl::StatusOr<std::unique_ptr<Subscription>> reader = hub.Subscribe(kKey, "");
  absl::StatusOr<std::unique_ptr<Subscription>> sleeper = hub.Subscribe(kKey, "");
  ASSERT_TRUE(reader.ok() && sleeper.ok());
  EXPECT_EQ(Read(registry, subscribers), 2);
  EXPECT_EQ(Read(registry, too_slow), 0);

  // Five events for a queue of two: the reader takes each before the next is
  // published; the sleeper, which takes none, is ended.
  RedisClient client(options.redis);
  std::vector<std::shared_ptr<const StreamEvent>> batch;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client
                    .Pipeline(StreamPublishCommands(OutboxSource{"test", kKey, 1000},
                                                    {{absl::StrCat("e-", i), "payload"}}))
                    .ok());
    batch.clear();
    const absl::Time took_by = absl::Now() + kWait;
    while (batch.empty() && absl::Now() < took_by) {
      ASSERT_TRUE((*reader)->Poll(&batch, 10).ok());
      if (batch.empty()) (*reader)->WaitUntil(took_by);
    }
    ASSERT_EQ(batch.size(), 1u);
  }
  const absl::Time deadline = absl::Now() + kWait;
  absl::Status end;
  while (end.ok() && absl::Now() < deadline) {
    (*sleeper)->WaitUntil(deadline);
    end = (*sleeper)->TakeEnd();
  }
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable) << end;
  EXPECT_EQ(Read(registry, too_slow), 1);
  EXPECT_EQ(Read(registry, subscribers), 2);  // until the consumer lets go of it
  sleeper->reset();
  EXPECT_EQ(Read(registry, subscribers), 1);
  reader->reset();
  EXPECT_EQ(Read(registry, subscribers), 0);
  EXPECT_EQ(Read(registry, too_slow), 1);

  // Redis gone: the reader notices at its next read.
  (*redis)->Stop();
  EXPECT_TRUE(testing::PollUntil([&] { return Read(registry, "plantmesh_redis_up") == 0; }, kWait));
  hub.Stop();
}

TEST(ProcessMetrics, BuildInfo) {
  MetricsRegistry registry;
  AddProcessMetrics({"1.2.3", "abc123", nullptr, nullptr, nullptr}, &registry);
  const std::string text = registry.Scrape();
  EXPECT_NE(text.find("plantmesh_build_info{version=\"1.2.3\",revision=\"abc123\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_FALSE(HasFamily(registry, "plantmesh_redis_up"));  // neither hub nor relay
  EXPECT_FALSE(HasFamily(registry, "plantmesh_tls_certificate_expiry_timestamp_seconds"));
  EXPECT_FALSE(HasFamily(registry, "plantmesh_role_bindings_refused"));  // no bindings given
}

// Outside testing: a revocation that did not parse kept the roles in force, and nothing
// but one log line said so.
TEST(ProcessMetrics, RoleBindingsRefusedWhileTheFileOnDiskIsNotInForce) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("pm-bindings-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "role-bindings.json").string();
  std::ofstream(path) << R"({"bindings": []})";
  absl::StatusOr<std::unique_ptr<RoleBindingStore>> bindings =
      RoleBindingStore::Open(path, absl::Hours(1));  // reloads driven by the test
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  MetricsRegistry registry;
  ProcessMetricSources sources;
  sources.role_bindings = bindings->get();
  AddProcessMetrics(sources, &registry);
  EXPECT_EQ(Read(registry, "plantmesh_role_bindings_refused"), 0);
  std::ofstream(path) << R"({"bindings": [],})";
  EXPECT_FALSE((*bindings)->ReloadIfChanged().ok());
  EXPECT_EQ(Read(registry, "plantmesh_role_bindings_refused"), 1);
  std::filesystem::remove_all(dir);
}

// Outside testing: after a refused rotation the expiry read from tls-cert on disk showed
// the new certificate's date while the old one was served until it expired, and nothing
// said a rotation was refused. The expiry is the served certificate's; the refusal a gauge.
TEST(ProcessMetrics, TlsMetricsTellTheServedCertificateAndARefusedRotation) {
  absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string dir = (*pki)->dir() + "/served";
  std::filesystem::create_directories(dir);
  const StagedTlsFiles::Paths configured = {dir + "/ca.crt", dir + "/server.crt",
                                            dir + "/server.key"};
  std::filesystem::copy_file((*pki)->ca_file(), configured.ca);
  std::filesystem::copy_file((*pki)->server_cert(), configured.cert);
  std::filesystem::copy_file((*pki)->server_key(), configured.key);
  absl::StatusOr<std::unique_ptr<StagedTlsFiles>> files =
      StagedTlsFiles::Start(configured, absl::Hours(1));  // refreshed by hand here
  ASSERT_TRUE(files.ok()) << files.status();
  MetricsRegistry registry;
  AddTlsMetrics(files->get(), &registry);
  absl::StatusOr<absl::Time> not_after = CertificateNotAfter((*pki)->server_cert());
  ASSERT_TRUE(not_after.ok()) << not_after.status();
  EXPECT_GT(*not_after, absl::Now());
  const double served = absl::ToDoubleSeconds(*not_after - absl::UnixEpoch());
  EXPECT_EQ(Read(registry, "plantmesh_tls_certificate_expiry_timestamp_seconds"), served);
  EXPECT_EQ(Read(registry, "plantmesh_tls_files_refused"), 0);
  EXPECT_EQ(Read(registry, "plantmesh_tls_handshake_failures_total"), 0);

  // A rotation to a certificate whose key is another's: refused, the old one served.
  absl::StatusOr<testing::TestPki::Client> other = (*pki)->IssueServer("other");
  ASSERT_TRUE(other.ok()) << other.status();
  std::filesystem::copy_file(other->cert_file, configured.cert,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_FALSE((*files)->Refresh().ok());
  EXPECT_EQ(Read(registry, "plantmesh_tls_files_refused"), 1);
  EXPECT_EQ(Read(registry, "plantmesh_tls_certificate_expiry_timestamp_seconds"), served);

  // Its key too: served, and the gauge back to 0.
  std::filesystem::copy_file(other->key_file, configured.key,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE((*files)->Refresh().ok());
  EXPECT_EQ(Read(registry, "plantmesh_tls_files_refused"), 0);
  absl::StatusOr<absl::Time> rotated = CertificateNotAfter(other->cert_file);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(Read(registry, "plantmesh_tls_certificate_expiry_timestamp_seconds"),
            absl::ToDoubleSeconds(*rotated - absl::UnixEpoch()));
  EXPECT_EQ(CertificateNotAfter((*pki)->dir() + "/missing.pem").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace plantmesh::runtime
