// The per-call metrics of every service, recorded by the guarded base (the CallPolicy)
// that every call of every hosted service passes, streams once at their end. Names
// and labels are those of go-grpc-prometheus, so its dashboards and alerts apply:
//   grpc_server_started_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
//   grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type} (histogram)
// grpc_type: unary, client_stream, server_stream, bidi_stream; grpc_code: the status
// the client got, spelt as grpc-go does (OK, InvalidArgument, PermissionDenied, ...),
// refusals before the handler (authentication, authorization, draining) included.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/runtime/metrics.h"

namespace plantmesh::runtime {

class CallMetrics {
 public:
  // The series of one method, created up front: recording touches only atomics.
  class Method {
   public:
    void Started() { started_->Increment(); }
    // A call that ended with `code` after `latency` (from Begin to the status).
    void Handled(absl::StatusCode code, absl::Duration latency);

   private:
    friend class CallMetrics;
    CounterFamily* handled_family_ = nullptr;
    std::vector<std::string> labels_;  // service, method, type
    Counter* started_ = nullptr;
    Histogram* latency_ = nullptr;
    // By code (0-16); created on the first call that ends with it (OK up front).
    std::array<std::atomic<Counter*>, 17> handled_{};
  };

  // Adds the three families to `registry` (not owned; must outlive this).
  explicit CallMetrics(MetricsRegistry* registry);

  // Series for `full_method` ("plantmesh.defect.v1.DefectService.CreateDefect"); its
  // type is read from the generated descriptor pool (unary when not found). The
  // pointer lives as long as this object.
  Method* ForMethod(const std::string& full_method);

  // "OK", "InvalidArgument", "PermissionDenied", ... (grpc-go's spelling).
  static std::string CodeName(absl::StatusCode code);

 private:
  CounterFamily* started_;
  CounterFamily* handled_;
  HistogramFamily* handling_seconds_;
  std::vector<std::unique_ptr<Method>> methods_;
};

}  // namespace plantmesh::runtime
