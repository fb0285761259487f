// Streaming calls of the typed clients. The interfaces hide gRPC's stream classes so
// that SDK users include no gRPC header; the implementations live in internal/calls.h.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "plantmesh/sdk/cxx17.h"  // first: before any header that needs C++17

namespace plantmesh::sdk {

// A server-streaming call: read with Next until it returns false, then Finish.
template <typename Response>
class ReadStream {
 public:
  virtual ~ReadStream() = default;
  // Blocks for the next message; false when the stream has ended or failed.
  virtual bool Next(Response* out) = 0;
  // The call's outcome. Call after Next returned false, or after Cancel (then it
  // returns CANCELLED without waiting for the server).
  virtual absl::Status Finish() = 0;
  // Ends the call early from any thread; a blocked Next returns false.
  virtual void Cancel() = 0;
};

// A client-streaming call: Write each message, then Finish for the single response.
template <typename Request, typename Response>
class WriteStream {
 public:
  virtual ~WriteStream() = default;
  // Sends one message; false when the stream is broken (Finish tells why).
  virtual bool Write(const Request& message) = 0;
  // Half-closes the stream and waits for the response.
  virtual absl::StatusOr<Response> Finish() = 0;
  virtual void Cancel() = 0;
};

// A bidirectional call: Write and Next may run on two threads.
template <typename Request, typename Response>
class ReadWriteStream {
 public:
  virtual ~ReadWriteStream() = default;
  virtual bool Write(const Request& message) = 0;
  // Tells the server no more messages follow.
  virtual bool WritesDone() = 0;
  virtual bool Next(Response* out) = 0;
  // Call after WritesDone and after Next returned false (or after Cancel).
  virtual absl::Status Finish() = 0;
  virtual void Cancel() = 0;
};

}  // namespace plantmesh::sdk
