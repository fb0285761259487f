#include "cli/generic_call.h"

#include <vector>

#include "grpcpp/support/slice.h"

namespace plantmesh::cli {
namespace {

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return message->ParseFromString(bytes);
}

}  // namespace

GenericCall::GenericCall(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& grpc_path, grpc::ClientContext* context)
    : context_(context), stub_(channel) {
  stream_ = stub_.PrepareCall(context_, grpc_path, &queue_);
  if (stream_ != nullptr) {
    stream_->StartCall(this);
    started_ = Await(this);
  }
}

GenericCall::~GenericCall() {
  queue_.Shutdown();
  void* tag;
  bool ok;
  while (queue_.Next(&tag, &ok)) {
  }
}

// One operation is outstanding at a time, so the next event is the one awaited.
bool GenericCall::Await(void* tag) {
  void* got = nullptr;
  bool ok = false;
  if (!queue_.Next(&got, &ok)) return false;
  return ok && got == tag;
}

bool GenericCall::Write(const google::protobuf::Message& request) {
  if (!started_) return false;
  grpc::ByteBuffer buffer = Serialize(request);
  stream_->Write(buffer, this);
  return Await(this);
}

bool GenericCall::WritesDone() {
  if (!started_) return false;
  stream_->WritesDone(this);
  return Await(this);
}

bool GenericCall::Read(google::protobuf::Message* response) {
  if (!started_ || parse_failed_) return false;
  grpc::ByteBuffer buffer;
  stream_->Read(&buffer, this);
  if (!Await(this)) return false;
  response->Clear();
  if (!Parse(buffer, response)) {
    parse_failed_ = true;
    context_->TryCancel();
    return false;
  }
  return true;
}

grpc::Status GenericCall::Finish() {
  if (stream_ == nullptr) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the call could not be created");
  }
  grpc::Status status;
  stream_->Finish(&status, this);
  Await(this);
  if (parse_failed_) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "a response did not parse as the contract's message type");
  }
  return status;
}

}  // namespace plantmesh::cli
