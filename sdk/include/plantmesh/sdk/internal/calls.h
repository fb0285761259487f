// How the generated clients (<file>.pm_client.cc) run calls: contexts with deadlines
// and metadata, unary calls, and the gRPC-backed stream implementations. Not part of
// the public API: only generated code includes it.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/call_options.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/internal/connection.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/sdk/streams.h"

namespace plantmesh::sdk::internal {

// The deadline of a unary call: the caller's, else options.default_deadline from now.
absl::Time UnaryDeadline(const ClientOptions& options, const CallOptions& call_options);

// OK, or INVALID_ARGUMENT naming the first entry of call_options.metadata that gRPC
// would not send: a key of other than a-z, 0-9, '-', '_', '.', or starting "grpc-"; a
// value of other than printable ASCII (0x20-0x7E) under a key not ending "-bin". gRPC
// itself aborts the process on them (outside testing: "X-Request-Id", a value with a
// line break from a scanned barcode).
absl::Status CheckCallMetadata(const CallOptions& call_options);

// Deadline and metadata (checked first by CheckCallMetadata).
void PrepareUnaryContext(absl::Time deadline, const CallOptions& call_options,
                         grpc::ClientContext* context);

// Whether a unary call that ended with `status` is sent once more: gRPC failed it
// before sending (no connection) for a reason other than the TLS handshake, the
// channel waits for connections (options.reconnect.wait_for_ready) and time is left.
// The channel's interceptor then decides whether the second attempt waits (see
// MakeChannel).
bool ShouldSendAgain(const ClientOptions& options, const grpc::Status& status, absl::Time deadline);

// A context for a stream: the caller's deadline if any (streams otherwise have none)
// and metadata. Waits up to options.default_deadline (or the caller's deadline) for
// the channel to connect, so that a stream is not opened into a dead endpoint with no
// deadline at all: DEADLINE_EXCEEDED when it does not connect in time. While a
// channel made by MakeChannel reconnects (it was connected before, or its server was
// unreachable) that wait covers the reconnection. A channel whose first connection
// failed otherwise (e.g. TLS refused) still opens the stream at once, so the real
// error is reported by Finish.
absl::StatusOr<std::unique_ptr<grpc::ClientContext>> PrepareStreamContext(
    grpc::Channel& channel, const ClientOptions& options, const CallOptions& call_options);

// Whether `message` has a singular string `request_id` that is still empty: at its
// root, else in the first singular message field whose type has one (a client
// stream's first-message `metadata`), when that field is set: setting an absent
// one would change a oneof or presence.
bool HasEmptyRequestId(const google::protobuf::Message& message);
// Fills that request_id with a random UUID v4; false when there is none to fill.
bool FillEmptyRequestId(google::protobuf::Message* message);

// `status` of a call whose request_id the SDK filled: when its outcome is unknown
// (DEADLINE_EXCEEDED, UNAVAILABLE but for a request never sent, CANCELLED, UNKNOWN,
// INTERNAL), the id in its ErrorInfo metadata `request_id` (an ErrorInfo
// kOutcomeUnknownReason when it had none) and its message. Others unchanged.
absl::Status WithFilledRequestId(absl::Status status, const std::string& request_id);

// `filled_request_id`: the request_id the SDK filled in the request (empty: none).
template <typename Response, typename Invoke>
absl::StatusOr<Response> CallUnary(const ClientOptions& options, const CallOptions& call_options,
                                   Invoke&& invoke, const std::string& filled_request_id = "") {
  if (absl::Status metadata = CheckCallMetadata(call_options); !metadata.ok()) return metadata;
  const absl::Time deadline = UnaryDeadline(options, call_options);
  Response response;
  grpc::Status status;
  {
    grpc::ClientContext context;
    PrepareUnaryContext(deadline, call_options, &context);
    status = invoke(&context, &response);
  }
  if (ShouldSendAgain(options, status, deadline)) {
    grpc::ClientContext context;
    PrepareUnaryContext(deadline, call_options, &context);
    response.Clear();
    status = invoke(&context, &response);
  }
  if (!status.ok()) {
    // A request gRPC never sent has a known outcome: nothing was done.
    return WithFilledRequestId(FromGrpcStatus(status, !options.insecure),
                               IsUnsentConnectFailure(status) ? "" : filled_request_id);
  }
  return response;
}

template <typename Response>
class GrpcReadStream final : public ReadStream<Response> {
 public:
  GrpcReadStream(std::unique_ptr<grpc::ClientContext> context,
                 std::unique_ptr<grpc::ClientReader<Response>> reader, bool mutual_tls)
      : context_(std::move(context)), reader_(std::move(reader)), mutual_tls_(mutual_tls) {}
  ~GrpcReadStream() override {
    if (!finished_) {
      context_->TryCancel();
      reader_->Finish();
    }
  }

  bool Next(Response* out) override { return !finished_ && reader_->Read(out); }
  absl::Status Finish() override {
    if (!finished_) {
      finished_ = true;
      status_ = FromGrpcStatus(reader_->Finish(), mutual_tls_);
    }
    return status_;
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<Response>> reader_;
  bool mutual_tls_;
  bool finished_ = false;
  absl::Status status_;
};

template <typename Response>
class FailedReadStream final : public ReadStream<Response> {
 public:
  explicit FailedReadStream(absl::Status status) : status_(std::move(status)) {}
  bool Next(Response*) override { return false; }
  absl::Status Finish() override { return status_; }
  void Cancel() override {}

 private:
  absl::Status status_;
};

template <typename Request, typename Response>
class GrpcWriteStream final : public WriteStream<Request, Response> {
 public:
  GrpcWriteStream(std::unique_ptr<grpc::ClientContext> context, std::unique_ptr<Response> response,
                  std::unique_ptr<grpc::ClientWriter<Request>> writer, bool mutual_tls)
      : context_(std::move(context)),
        response_(std::move(response)),
        writer_(std::move(writer)),
        mutual_tls_(mutual_tls) {}
  ~GrpcWriteStream() override {
    if (!finished_) {
      context_->TryCancel();
      writer_->Finish();
    }
  }

  // The first message gets a request id when it has an empty one, like a unary
  // request: a retried upload is then recognised by the server.
  bool Write(const Request& message) override {
    if (finished_) return false;
    if (!wrote_first_) {
      wrote_first_ = true;
      if (HasEmptyRequestId(message)) {
        Request filled = message;
        FillEmptyRequestId(&filled);
        return writer_->Write(filled);
      }
    }
    return writer_->Write(message);
  }
  absl::StatusOr<Response> Finish() override {
    if (finished_) return absl::FailedPreconditionError("stream already finished");
    finished_ = true;
    writer_->WritesDone();  // false when the stream already broke; Finish says why
    const absl::Status status = FromGrpcStatus(writer_->Finish(), mutual_tls_);
    if (!status.ok()) return status;
    return std::move(*response_);
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Response> response_;  // filled by the gRPC writer on Finish
  std::unique_ptr<grpc::ClientWriter<Request>> writer_;
  bool mutual_tls_;
  bool wrote_first_ = false;
  bool finished_ = false;
};

template <typename Request, typename Response>
class FailedWriteStream final : public WriteStream<Request, Response> {
 public:
  explicit FailedWriteStream(absl::Status status) : status_(std::move(status)) {}
  bool Write(const Request&) override { return false; }
  absl::StatusOr<Response> Finish() override { return status_; }
  void Cancel() override {}

 private:
  absl::Status status_;
};

template <typename Request, typename Response>
class GrpcReadWriteStream final : public ReadWriteStream<Request, Response> {
 public:
  GrpcReadWriteStream(std::unique_ptr<grpc::ClientContext> context,
                      std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream,
                      bool mutual_tls)
      : context_(std::move(context)), stream_(std::move(stream)), mutual_tls_(mutual_tls) {}
  ~GrpcReadWriteStream() override {
    if (!finished_) {
      context_->TryCancel();
      stream_->Finish();
    }
  }

  bool Write(const Request& message) override { return !finished_ && stream_->Write(message); }
  bool WritesDone() override { return !finished_ && stream_->WritesDone(); }
  bool Next(Response* out) override { return !finished_ && stream_->Read(out); }
  absl::Status Finish() override {
    if (!finished_) {
      finished_ = true;
      status_ = FromGrpcStatus(stream_->Finish(), mutual_tls_);
    }
    return status_;
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream_;
  bool mutual_tls_;
  bool finished_ = false;
  absl::Status status_;
};

template <typename Request, typename Response>
class FailedReadWriteStream final : public ReadWriteStream<Request, Response> {
 public:
  explicit FailedReadWriteStream(absl::Status status) : status_(std::move(status)) {}
  bool Write(const Request&) override { return false; }
  bool WritesDone() override { return false; }
  bool Next(Response*) override { return false; }
  absl::Status Finish() override { return status_; }
  void Cancel() override {}

 private:
  absl::Status status_;
};

}  // namespace plantmesh::sdk::internal
