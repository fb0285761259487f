#include "server/runtime/call_context.h"

#include <grpcpp/server_context.h>

#include <chrono>

#include "server/runtime/shutdown.h"

namespace plantmesh::runtime {

bool CallContext::Cancelled() const {
  if (Draining()) return true;
  if (server_context == nullptr) return false;
  return server_context->IsCancelled() ||
         server_context->deadline() <= std::chrono::system_clock::now();
}

}  // namespace plantmesh::runtime
