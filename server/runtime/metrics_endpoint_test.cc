#include "server/runtime/metrics_endpoint.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace plantmesh::runtime {
namespace {

TEST(MetricsEndpoint, ServesTheRegistryOnGetMetricsOnly) {
  MetricsRegistry registry;
  registry.AddCounter("demo_total", "Demo.")->Get()->Increment(5);
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  ASSERT_GT((*endpoint)->port(), 0);
  EXPECT_EQ((*endpoint)->endpoint(), "127.0.0.1:" + std::to_string((*endpoint)->port()));

  httplib::Client client("127.0.0.1", (*endpoint)->port());
  client.set_connection_timeout(5);
  httplib::Result scraped = client.Get("/metrics");
  ASSERT_TRUE(scraped) << httplib::to_string(scraped.error());
  EXPECT_EQ(scraped->status, 200);
  EXPECT_EQ(scraped->get_header_value("Content-Type"), kPrometheusTextContentType);
  EXPECT_EQ(scraped->body, "# HELP demo_total Demo.\n# TYPE demo_total counter\ndemo_total 5\n");
  httplib::Result other = client.Get("/debug");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);

  (*endpoint)->Stop();
  (*endpoint)->Stop();  // idempotent
  httplib::Client after("127.0.0.1", (*endpoint)->port());
  after.set_connection_timeout(1);
  EXPECT_FALSE(after.Get("/metrics"));
}

TEST(MetricsEndpoint, StopsRightAfterStart) {
  MetricsRegistry registry;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Start("127.0.0.1:0", &registry);
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    // Destroyed at once: before or after its thread began listening.
  }
}

TEST(MetricsEndpoint, APortInUseIsUnavailable) {
  MetricsRegistry registry;
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> first =
      MetricsEndpoint::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok()) << first.status();
  // No SO_REUSEPORT: a second process (here: endpoint) cannot share the port.
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> second =
      MetricsEndpoint::Start((*first)->endpoint(), &registry);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("metrics-listen"), absl::string_view::npos);
}

}  // namespace
}  // namespace plantmesh::runtime
