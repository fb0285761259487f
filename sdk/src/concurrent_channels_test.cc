// Channels made from many threads at once, as a load generator or a connector with one
// channel per worker does. The first MakeChannel calls race on reading the linked
// contracts (protobuf's generated database is not thread-safe); this process makes
// its first calls concurrently on purpose.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "plantmesh/sdk/client_options.h"
#include "plantmesh/system/v1/system_service.pb.h"

namespace plantmesh::sdk {
namespace {

TEST(MakeChannel, ManyThreadsAtOnceFromTheFirstCall) {
  ClientOptions options;
  options.insecure = true;
  options.endpoint = "127.0.0.1:1";  // never dialled: channels connect lazily
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&options] {
      for (int i = 0; i < 20; ++i) {
        auto channel = MakeChannel(options);
        EXPECT_TRUE(channel.ok()) << channel.status();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  // The retry policy still covers the linked services (WhoAmIRequest keeps SystemService
  // linked into this test).
  ASSERT_NE(plantmesh::system::v1::WhoAmIRequest::descriptor(), nullptr);
  EXPECT_NE(RetryServiceConfigJson(options.retry).find("plantmesh.system.v1.SystemService"),
            std::string::npos);
}

}  // namespace
}  // namespace plantmesh::sdk
