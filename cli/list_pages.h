// plantctl's paged List methods (a unary method whose request has `page_token` and
// whose response has `next_page_token` and exactly one repeated message field):
//   - with --all, every page in turn, each printed as it arrives (CSV keeps one
//     header; JSON prints one object per page, without next_page_token; the response's
//     other fields, such as watch_cursor, come with the first page only), with a
//     progress line on stderr when stderr is a terminal;
//   - without it, the one page asked for, and when more follow a last stderr line
//     "plantctl: more rows: ..." naming --all and the --page_token to continue, and
//     the exit code kExitMorePages, so that a script cannot take a truncated listing
//     for a complete one.
#pragma once

#include "absl/status/status.h"
#include "cli/command_tree.h"
#include "cli/method_runner.h"

namespace plantmesh::cli {

// 3: not a failure of the call (1, 2 and 10 + gRPC code are), but the output is not
// all there is; scripts that check only for non-zero still stop.
constexpr int kExitMorePages = 3;

// Whether `method` is a paged List as above.
bool IsPagedList(const google::protobuf::MethodDescriptor* method);

// Runs the List `binding` names from `request` (its page_token and page_size as given),
// as env.list_paging says.
// An error on a later page ends the listing with it, after the pages already printed.
absl::Status RunPagedList(const MethodBinding& binding, const ContractCatalog& catalog,
                          const google::protobuf::Message& request, const RunEnvironment& env);

}  // namespace plantmesh::cli
