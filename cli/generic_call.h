// One call of any RPC by name, on grpc::GenericStub, with synchronous steps over a
// private completion queue. Unary and streaming calls are the same on the wire (the
// server's method type decides), so one class serves all four kinds.
#pragma once

#include <memory>
#include <string>

#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace plantmesh::cli {

class GenericCall {
 public:
  // Starts the call of `grpc_path` ("/pkg.Service/Method"). `context` must outlive it.
  GenericCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& grpc_path,
              grpc::ClientContext* context);
  ~GenericCall();
  GenericCall(const GenericCall&) = delete;
  GenericCall& operator=(const GenericCall&) = delete;

  // False once the call is over (Finish tells why).
  bool Write(const google::protobuf::Message& request);
  bool WritesDone();
  // False at the end of the response stream or when the call failed; a message that
  // does not parse ends the call with INTERNAL from Finish.
  bool Read(google::protobuf::Message* response);
  grpc::Status Finish();

 private:
  bool Await(void* tag);

  grpc::ClientContext* context_;
  grpc::CompletionQueue queue_;
  grpc::GenericStub stub_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream_;
  bool started_ = false;
  bool parse_failed_ = false;
};

}  // namespace plantmesh::cli
