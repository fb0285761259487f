// From the bytes a client sent to a request a handler may trust. The generated server
// bases receive requests as bytes (not parsed by gRPC) and call DecodeRequest once per
// message, after CallPolicy::Begin and before the handler, so that:
//   - a proto3 string that is not valid UTF-8 is INVALID_ARGUMENT naming the field (gRPC's
//     own parsing answers INTERNAL with no message, without the call being audited or
//     logged, and ends a client stream as if the client had finished it);
//   - every string keeps the contract's text rules (request_rules.h).
// Client streams read through RequestReader, bidirectional streams through
// RequestStream, which do the same for every message.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <utility>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace plantmesh::runtime {

// Parses `bytes` into `request` (cleared first) and checks its text. INVALID_ARGUMENT
// with a BadRequest field violation per wrong field, or naming the message type when
// the bytes are not a message of that type at all.
absl::Status DecodeRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request);

// A client stream's messages, each decoded by DecodeRequest. Mirrors
// grpc::ServerReader<Request>::Read, so a handler reads as it would from gRPC.
template <typename Request>
class RequestReader {
 public:
  explicit RequestReader(grpc::internal::ReaderInterface<grpc::ByteBuffer>* stream)
      : stream_(stream) {}

  // True with the next message in `*message`. False at the end of the client's stream
  // and when a message breaks the input rules; then status() says why. A handler that
  // acts on the end of a stream (commits what it read) must check status() first.
  bool Read(Request* message) {
    if (!status_.ok()) return false;
    grpc::ByteBuffer bytes;
    if (!stream_->Read(&bytes)) return false;
    status_ = DecodeRequest(bytes, message);
    return status_.ok();
  }

  // OK, or why the last Read refused a message.
  const absl::Status& status() const { return status_; }

  // The call's outcome: a refused message decides it, whatever the handler made of the
  // stream ending early.
  absl::Status Outcome(absl::Status handled) const {
    return status_.ok() ? std::move(handled) : status_;
  }

 private:
  grpc::internal::ReaderInterface<grpc::ByteBuffer>* stream_;
  absl::Status status_;
};

// A bidirectional stream: requests read as by RequestReader, responses written as to
// grpc::ServerReaderWriter.
template <typename Request, typename Response>
class RequestStream : public RequestReader<Request> {
 public:
  explicit RequestStream(grpc::ServerReaderWriter<Response, grpc::ByteBuffer>* stream)
      : RequestReader<Request>(stream), stream_(stream) {}

  bool Write(const Response& message) { return stream_->Write(message); }
  bool Write(const Response& message, grpc::WriteOptions options) {
    return stream_->Write(message, options);
  }

 private:
  grpc::ServerReaderWriter<Response, grpc::ByteBuffer>* stream_;
};

}  // namespace plantmesh::runtime
