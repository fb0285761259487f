#include "server/planning/propose/child_process.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::planning::propose::internal {
namespace {

using ::testing::HasSubstr;

[[noreturn]] void RunForever() {
  for (;;) pause();
}

TEST(RunInChildProcess, ReturnsWhatTheChildComputedFromTheParentsMemory) {
  const std::string built(100000, 'x');  // more than a pipe holds at once
  absl::StatusOr<std::optional<std::string>> answer = RunInChildProcess(
      [&] { return built + "!"; }, absl::Now() + absl::Minutes(5), [] { return false; });
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ(**answer, built + "!");
}

TEST(RunInChildProcess, KillsTheChildAtItsTime) {
  const absl::Time begin = absl::Now();
  absl::StatusOr<std::optional<std::string>> answer =
      RunInChildProcess([&]() -> std::string { RunForever(); }, begin + absl::Milliseconds(200),
                        [] { return false; });
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->has_value());
  EXPECT_LT(absl::Now() - begin, absl::Seconds(30));
}

TEST(RunInChildProcess, KillsTheChildWhenStopped) {
  const absl::Time begin = absl::Now();
  absl::StatusOr<std::optional<std::string>> answer =
      RunInChildProcess([&]() -> std::string { RunForever(); }, absl::InfiniteFuture(),
                        [&] { return absl::Now() - begin > absl::Milliseconds(100); });
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->has_value());
}

TEST(RunInChildProcess, AChildThatCrashesIsAnError) {
  absl::StatusOr<std::optional<std::string>> answer = RunInChildProcess(
      []() -> std::string { std::abort(); }, absl::Now() + absl::Minutes(5), [] { return false; });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(answer.status().message(), HasSubstr("signal 6"));
}

}  // namespace
}  // namespace plantmesh::planning::propose::internal
