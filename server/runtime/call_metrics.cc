#include "server/runtime/call_metrics.h"

#include <google/protobuf/descriptor.h>

#include <iterator>
#include <mutex>

namespace plantmesh::runtime {
namespace {

std::mutex& CreationMutex() {
  static std::mutex mu;
  return mu;
}

std::string TypeOf(const std::string& full_method) {
  const google::protobuf::MethodDescriptor* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_method);
  if (method == nullptr) return "unary";
  if (method->client_streaming())
    return method->server_streaming() ? "bidi_stream" : "client_stream";
  return method->server_streaming() ? "server_stream" : "unary";
}

}  // namespace

CallMetrics::CallMetrics(MetricsRegistry* registry)
    : started_(registry->AddCounter("grpc_server_started_total",
                                    "RPCs started on the server (admitted or refused).",
                                    {"grpc_service", "grpc_method", "grpc_type"})),
      handled_(registry->AddCounter(
          "grpc_server_handled_total",
          "RPCs completed on the server, by the gRPC status code the client got.",
          {"grpc_service", "grpc_method", "grpc_type", "grpc_code"})),
      handling_seconds_(registry->AddHistogram(
          "grpc_server_handling_seconds",
          "Time from the start of an RPC to its status (a stream's whole duration).",
          {"grpc_service", "grpc_method", "grpc_type"}, LatencySecondsBuckets())) {}

CallMetrics::Method* CallMetrics::ForMethod(const std::string& full_method) {
  const size_t dot = full_method.rfind('.');
  auto method = std::make_unique<Method>();
  method->labels_ = {dot == std::string::npos ? "" : full_method.substr(0, dot),
                     full_method.substr(dot == std::string::npos ? 0 : dot + 1),
                     TypeOf(full_method)};
  method->handled_family_ = handled_;
  method->started_ = started_->WithLabels(method->labels_);
  method->latency_ = handling_seconds_->WithLabels(method->labels_);
  std::vector<std::string> ok = method->labels_;
  ok.push_back(CodeName(absl::StatusCode::kOk));
  method->handled_[0].store(handled_->WithLabels(ok), std::memory_order_release);
  methods_.push_back(std::move(method));
  return methods_.back().get();
}

void CallMetrics::Method::Handled(absl::StatusCode code, absl::Duration latency) {
  size_t index = static_cast<size_t>(code);
  if (index >= handled_.size()) index = static_cast<size_t>(absl::StatusCode::kUnknown);
  Counter* counter = handled_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    std::lock_guard<std::mutex> lock(CreationMutex());
    counter = handled_[index].load(std::memory_order_acquire);
    if (counter == nullptr) {
      std::vector<std::string> labels = labels_;
      labels.push_back(CodeName(static_cast<absl::StatusCode>(index)));
      counter = handled_family_->WithLabels(labels);
      handled_[index].store(counter, std::memory_order_release);
    }
  }
  counter->Increment();
  latency_->Observe(absl::ToDoubleSeconds(latency));
}

std::string CallMetrics::CodeName(absl::StatusCode code) {
  // As grpc-go's codes.Code.String() spells them, which go-grpc-prometheus's grpc_code
  // uses (and so its dashboards and alerts).
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  const auto index = static_cast<size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "Unknown";
}

}  // namespace plantmesh::runtime
