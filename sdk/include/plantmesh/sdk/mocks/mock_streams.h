// Streams for tests of code that uses the typed clients' streaming methods, with the
// generated mock connections (<file>.pm_mock.h; CMake target PlantMesh::sdk_mocks):
//   - MockReadStream / MockWriteStream / MockReadWriteStream: gMock, every method
//     mocked, for tests that check how the code drives a stream;
//   - MakeReadStream(responses, status): a canned server stream that yields the
//     responses in order and then ends with `status`, e.g.
//       EXPECT_CALL(*mock, WatchDefects).WillOnce([&](auto&&...) {
//         return MakeReadStream<WatchDefectsResponse>({event}, absl::UnavailableError("drain"));
//       });
// Includes <gmock/gmock.h>: use only from tests.
#pragma once

#include <gmock/gmock.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "plantmesh/sdk/streams.h"

namespace plantmesh::sdk::mocks {

template <typename Response>
class MockReadStream : public ReadStream<Response> {
 public:
  MOCK_METHOD(bool, Next, (Response * out), (override));
  MOCK_METHOD(absl::Status, Finish, (), (override));
  MOCK_METHOD(void, Cancel, (), (override));
};

template <typename Request, typename Response>
class MockWriteStream : public WriteStream<Request, Response> {
 public:
  MOCK_METHOD(bool, Write, (const Request& message), (override));
  MOCK_METHOD((absl::StatusOr<Response>), Finish, (), (override));
  MOCK_METHOD(void, Cancel, (), (override));
};

template <typename Request, typename Response>
class MockReadWriteStream : public ReadWriteStream<Request, Response> {
 public:
  MOCK_METHOD(bool, Write, (const Request& message), (override));
  MOCK_METHOD(bool, WritesDone, (), (override));
  MOCK_METHOD(bool, Next, (Response * out), (override));
  MOCK_METHOD(absl::Status, Finish, (), (override));
  MOCK_METHOD(void, Cancel, (), (override));
};

// A server stream that yields `responses`, then ends with `status` (OK by default).
// Cancel ends it at once with CANCELLED, as a real stream does.
template <typename Response>
class CannedReadStream final : public ReadStream<Response> {
 public:
  CannedReadStream(std::vector<Response> responses, absl::Status status)
      : responses_(std::move(responses)), status_(std::move(status)) {}

  bool Next(Response* out) override {
    if (cancelled_.load() || next_ >= responses_.size()) return false;
    *out = responses_[next_++];
    return true;
  }
  absl::Status Finish() override {
    return cancelled_.load() ? absl::CancelledError("cancelled by the client") : status_;
  }
  void Cancel() override { cancelled_.store(true); }

 private:
  std::vector<Response> responses_;
  absl::Status status_;
  size_t next_ = 0;
  std::atomic<bool> cancelled_{false};  // Cancel may come from another thread
};

template <typename Response>
std::unique_ptr<ReadStream<Response>> MakeReadStream(std::vector<Response> responses,
                                                     absl::Status status = absl::OkStatus()) {
  return std::make_unique<CannedReadStream<Response>>(std::move(responses), std::move(status));
}

}  // namespace plantmesh::sdk::mocks
