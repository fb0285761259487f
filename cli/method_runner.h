// Runs one contract method chosen on the command line: builds the messages, makes the
// generic call, prints the responses, moves files for file_chunk methods.
#pragma once

#include <atomic>
#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>

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
  // Installs (or, with nullptr, removes) what Ctrl-C calls besides cancelling the
  // live call: a watch that resumes stops its loop with it, also between calls.
  std::function<void(std::function<void()>)> set_stopper;
};

// After a failed call of a method that changes something (not NO_SIDE_EFFECTS) and
// carries a request_id: the lines naming the id the request carried and the exact flag
// to rerun it with (`--request_id ID`, `--metadata.request_id ID`), since after
// DEADLINE_EXCEEDED or UNAVAILABLE the change may have been made, and the server
// applies a request_id once per identity and method. Empty for other methods.
std::string RerunHint(const MethodCommand& command, const google::protobuf::Message& request,
                      const absl::Status& failure);

// The call's status as absl::Status (rich details kept); OK when a stream was stopped
// by the user.
// `request` is the message the flags built (the first one of a client stream).
absl::Status RunMethod(const MethodBinding& binding, const ContractCatalog& catalog,
                       const google::protobuf::Message& request, const RunEnvironment& env);

}  // namespace plantmesh::cli
