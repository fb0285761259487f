// MemoryRequestLog keeps PgRequestLog's contract (pg_request_log_test.cc has the same
// cases against PostgreSQL).
#include "server/runtime/testing/memory_request_log.h"

#include <gtest/gtest.h>

#include "server/runtime/errors.h"

namespace plantmesh::runtime::testing {
namespace {

// One idempotent "change": claims `key`, then records `response` unless `fail`.
absl::StatusOr<std::optional<MemoryRequestLog::Entry>> Call(MemoryRequestLog& log,
                                                            const IdempotencyKey& key,
                                                            const std::string& response,
                                                            bool fail = false) {
  absl::StatusOr<std::optional<MemoryRequestLog::Entry>> seen = log.Claim(key);
  if (!seen.ok() || seen->has_value()) return seen;
  if (fail) return absl::FailedPreconditionError("the change failed");
  log.Record(key, response, "things/1");
  return seen;
}

const IdempotencyKey kAnna{"spiffe://p/user/anna", "svc.S.Update", "r-1", "payload-a"};

TEST(MemoryRequestLogTest, FirstCallRecordsRetriesGetTheResponseReuseIsRefused) {
  MemoryRequestLog log;
  absl::StatusOr<std::optional<MemoryRequestLog::Entry>> first = Call(log, kAnna, "response-1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->has_value());

  absl::StatusOr<std::optional<MemoryRequestLog::Entry>> retry = Call(log, kAnna, "response-2");
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE(retry->has_value());
  EXPECT_EQ((*retry)->response, "response-1");
  EXPECT_EQ((*retry)->resource, "things/1");

  IdempotencyKey other_payload = kAnna;
  other_payload.payload_sha256 = "payload-b";
  absl::StatusOr<std::optional<MemoryRequestLog::Entry>> reused = Call(log, other_payload, "x");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorInfoOf(reused.status()).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(ErrorInfoOf(reused.status()).metadata["resource"], "things/1");
  EXPECT_EQ(ErrorInfoOf(reused.status()).metadata["method"], "svc.S.Update");

  // Another caller, another method: calls of their own.
  IdempotencyKey bob = other_payload;
  bob.identity = "spiffe://p/user/bob";
  EXPECT_FALSE(Call(log, bob, "bob's")->has_value());
  IdempotencyKey other_method = other_payload;
  other_method.method = "svc.S.Delete";
  EXPECT_FALSE(Call(log, other_method, "deleted")->has_value());
  EXPECT_EQ((*Call(log, bob, ""))->response, "bob's");
  EXPECT_EQ(log.size(), 3u);
}

TEST(MemoryRequestLogTest, AFailedChangeRecordsNothing) {
  MemoryRequestLog log;
  EXPECT_EQ(Call(log, kAnna, "", /*fail=*/true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log.size(), 0u);
  absl::StatusOr<std::optional<MemoryRequestLog::Entry>> again = Call(log, kAnna, "response");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());  // evaluated afresh
}

TEST(MemoryRequestLogTest, WithoutRequestIdNothingIsDeduplicatedOrRecorded) {
  MemoryRequestLog log;
  IdempotencyKey key = kAnna;
  key.request_id.clear();
  EXPECT_FALSE(Call(log, key, "one")->has_value());
  EXPECT_FALSE(Call(log, key, "two")->has_value());
  EXPECT_EQ(log.size(), 0u);
}

}  // namespace
}  // namespace plantmesh::runtime::testing
