#include "server/planning/propose/solver_process.h"

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/planning/propose/cbc_problem.h"

namespace plantmesh::planning::propose::internal {
namespace {

using ::testing::HasSubstr;

const std::string kShell = "/bin/sh";

absl::StatusOr<std::optional<std::string>> RunShell(const std::string& script,
                                                    const std::string& input,
                                                    absl::Time kill_at = absl::Now() +
                                                                         absl::Minutes(5),
                                                    const std::function<bool()>& stop = {}) {
  return RunSolverProgram(kShell, {"-c", script}, input, kill_at, stop);
}

TEST(RunSolverProgram, GivesTheProgramItsInputAndReturnsItsOutput) {
  // More than a pipe holds at once, both ways.
  const std::string input(1 << 20, 'x');
  absl::StatusOr<std::optional<std::string>> answer = RunShell("cat; printf '!'", input);
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  EXPECT_EQ(**answer, input + "!");
}

// The server starts it from a process full of threads (gRPC's, the executor's), some of
// them holding locks or allocating at that moment.
TEST(RunSolverProgram, WorksWhileOtherThreadsLockAndAllocate) {
  absl::Mutex mu;
  std::atomic<bool> done{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 4; ++i) {
    busy.emplace_back([&] {
      while (!done.load()) {
        absl::MutexLock lock(&mu);
        std::vector<std::string> garbage(64, std::string(100, 'g'));
      }
    });
  }
  for (int run = 0; run < 20; ++run) {
    absl::StatusOr<std::optional<std::string>> answer = RunShell("wc -c", std::string(4000, 'p'));
    ASSERT_TRUE(answer.ok()) << answer.status();
    ASSERT_TRUE(answer->has_value());
    EXPECT_EQ(std::stoi(**answer), 4000);
  }
  done = true;
  for (std::thread& t : busy) t.join();
}

TEST(RunSolverProgram, KillsTheProgramAtItsTime) {
  const absl::Time begin = absl::Now();
  absl::StatusOr<std::optional<std::string>> answer =
      RunShell("exec sleep 600", "", begin + absl::Milliseconds(200));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->has_value());
  EXPECT_LT(absl::Now() - begin, absl::Seconds(60));
}

TEST(RunSolverProgram, KillsTheProgramWhenStopped) {
  const absl::Time begin = absl::Now();
  absl::StatusOr<std::optional<std::string>> answer =
      RunShell("exec sleep 600", "", absl::InfiniteFuture(),
               [&] { return absl::Now() - begin > absl::Milliseconds(100); });
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->has_value());
  EXPECT_LT(absl::Now() - begin, absl::Seconds(60));
}

TEST(RunSolverProgram, AProgramThatCrashesOrFailsIsAnError) {
  absl::StatusOr<std::optional<std::string>> crashed = RunShell("kill -ABRT $$", "");
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(crashed.status().message(), HasSubstr("signal 6"));
  absl::StatusOr<std::optional<std::string>> failed = RunShell("printf partial; exit 3", "");
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(failed.status().message(), HasSubstr("exited with code 3"));
  absl::StatusOr<std::optional<std::string>> missing =
      RunSolverProgram("/nonexistent/solver", {}, "", absl::InfiniteFuture(), {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/solver"));
}

TEST(RunSolverProgram, TheServersSignalsAreNotTheProgramsAndItBlocksNone) {
  // The server blocks or handles SIGTERM for its drain; the program gets the defaults.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  absl::StatusOr<std::optional<std::string>> answer = RunShell("kill -TERM $$; sleep 5", "");
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  EXPECT_THAT(answer.status().message(), HasSubstr("signal 15"));
}

TEST(CbcSolverProgram, IsTheBuildTreesForATestAndCanBeChosen) {
  absl::StatusOr<std::string> program = CbcSolverProgram();
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_THAT(*program, HasSubstr("/plantmesh-cbc-solver"));

  setenv("PLANTMESH_CBC_SOLVER", "/nonexistent/plantmesh-cbc-solver", 1);
  absl::StatusOr<std::string> missing = CbcSolverProgram();
  unsetenv("PLANTMESH_CBC_SOLVER");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/plantmesh-cbc-solver"));
}

CbcProblem OneColumn() {
  CbcProblem p;
  // min x, x ≥ 2.5 by its row, x integer in [0, 10]: x = 3.
  p.column_lower = {0};
  p.column_upper = {10};
  p.cost = {1};
  p.integer = {1};
  p.row_lower = {2.5};
  p.row_upper = {1e30};
  p.column_starts = {0, 1};
  p.entry_rows = {0};
  p.entry_values = {1};
  p.start = {10};
  p.seconds = 60;
  p.relative_gap = 1e-4;
  return p;
}

TEST(CbcSolverProgram, SolvesAProblemItIsSent) {
  absl::StatusOr<std::string> program = CbcSolverProgram();
  ASSERT_TRUE(program.ok()) << program.status();
  absl::StatusOr<std::optional<std::string>> answer = RunSolverProgram(
      *program, {}, EncodeProblem(OneColumn()), absl::Now() + absl::Minutes(5), {});
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  absl::StatusOr<CbcRun> run = DecodeRun(**answer);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->values.size(), 1u);
  EXPECT_DOUBLE_EQ(run->values[0], 3);
  EXPECT_TRUE(run->optimal);
  EXPECT_DOUBLE_EQ(run->bound, 3);
}

TEST(CbcSolverProgram, AnswersInputItCannotReadWithAnError) {
  absl::StatusOr<std::string> program = CbcSolverProgram();
  ASSERT_TRUE(program.ok()) << program.status();
  std::string cut = EncodeProblem(OneColumn());
  cut.resize(cut.size() - 3);
  absl::StatusOr<std::optional<std::string>> answer =
      RunSolverProgram(*program, {}, cut, absl::Now() + absl::Minutes(5), {});
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->has_value());
  absl::StatusOr<CbcRun> run = DecodeRun(**answer);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(run.status().message(), HasSubstr("cut short"));
}

TEST(CbcProblem, RoundTripsAndRefusesWhatDoesNotParse) {
  const CbcProblem p = OneColumn();
  absl::StatusOr<CbcProblem> back = DecodeProblem(EncodeProblem(p));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->column_upper, p.column_upper);
  EXPECT_EQ(back->entry_rows, p.entry_rows);
  EXPECT_EQ(back->start, p.start);
  EXPECT_EQ(back->max_nodes, -1);
  EXPECT_FALSE(DecodeProblem("plantmesh-cbc-problem/0...").ok());
  CbcProblem unequal = p;
  unequal.cost.push_back(1);
  EXPECT_THAT(DecodeProblem(EncodeProblem(unequal)).status().message(), HasSubstr("unequal"));

  CbcRun run{{3}, 3, true, false};
  absl::StatusOr<CbcRun> decoded = DecodeRun(EncodeRun(run));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->values, run.values);
  EXPECT_TRUE(decoded->optimal);
  EXPECT_EQ(DecodeRun(EncodeRun(absl::InternalError("no"))).status().message(), "no");
  EXPECT_FALSE(DecodeRun("").ok());
}

}  // namespace
}  // namespace plantmesh::planning::propose::internal
