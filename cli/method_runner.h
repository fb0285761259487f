// Runs one contract method chosen on the command line: builds the messages, makes the
// generic call, prints the responses, moves files for file_chunk methods.
#pragma once

#include <atomic>
#include <functional>
#include <istream>
#include <memory>
#include <ostream>

#include "absl/status/status.h"
#include "cli/command_tree.h"
#include "cli/output.h"
#include "plantmesh/sdk/client_options.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace plantmesh::cli {

// How a paged List method is run (cli/list_pages.h).
struct ListPaging {
  bool all = false;                  // --all: every page
  std::ostream* progress = nullptr;  // stderr when it is a terminal, else null
  bool* more_pages = nullptr;        // set when the printed rows are not the whole list
};

struct RunEnvironment {
  std::shared_ptr<grpc::Channel> channel;
  sdk::ClientOptions options;
  ResponsePrinter* printer = nullptr;
  std::istream* requests_in = nullptr;  // JSON request lines for client streams
  // Called with the live call's context so Ctrl-C can cancel it; with nullptr after.
  std::function<void(grpc::ClientContext*)> on_call;
  // Set when the user interrupted the call: a cancelled stream then ends cleanly.
  const std::atomic<bool>* interrupted = nullptr;
  ListPaging list_paging;
};

// The call's status as absl::Status (rich details kept); OK when a stream was stopped
// by the user.
// `request` is the message the flags built (the first one of a client stream).
absl::Status RunMethod(const MethodBinding& binding, const ContractCatalog& catalog,
                       const google::protobuf::Message& request, const RunEnvironment& env);

}  // namespace plantmesh::cli
