#include "cli/list_pages.h"

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/unary_call.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

const FieldDescriptor* StringField(const Descriptor* type, const char* name) {
  const FieldDescriptor* field = type->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

// The one repeated message field of a List response, or nullptr.
const FieldDescriptor* ItemsField(const Descriptor* response) {
  const FieldDescriptor* items = nullptr;
  for (int i = 0; i < response->field_count(); ++i) {
    const FieldDescriptor* field = response->field(i);
    if (!field->is_repeated() || field->type() != FieldDescriptor::TYPE_MESSAGE) continue;
    if (items != nullptr) return nullptr;
    items = field;
  }
  return items;
}

// One page: a unary call (unary_call.h).
absl::StatusOr<std::unique_ptr<Message>> CallPage(const MethodCommand& command,
                                                  const ContractCatalog& catalog,
                                                  const Message& request,
                                                  const RunEnvironment& env) {
  std::unique_ptr<Message> response = catalog.NewMessage(command.method->output_type());
  bool received = false;
  const grpc::Status status = CallUnary(command, request, env, response.get(), &received);
  if (!status.ok()) return sdk::FromGrpcStatus(status, /*mutual_tls=*/!env.options.insecure);
  if (!received) return absl::InternalError("the server answered without a response");
  return response;
}

void TellMore(const RunEnvironment& env, const std::string& token, const std::string& why) {
  std::cerr << "plantctl: more rows" << why << ": use --all for every page, or --page_token "
            << token << " for the next one (exit code " << kExitMorePages << ")\n";
  if (env.list_paging.more_pages != nullptr) *env.list_paging.more_pages = true;
}

}  // namespace

bool IsPagedList(const google::protobuf::MethodDescriptor* method) {
  return !method->client_streaming() && !method->server_streaming() &&
         StringField(method->input_type(), "page_token") != nullptr &&
         StringField(method->output_type(), "next_page_token") != nullptr &&
         ItemsField(method->output_type()) != nullptr;
}

absl::Status RunPagedList(const MethodBinding& binding, const ContractCatalog& catalog,
                          const Message& request, const RunEnvironment& env) {
  const MethodCommand& command = *binding.command;
  const FieldDescriptor* page_token = StringField(command.method->input_type(), "page_token");
  const FieldDescriptor* next_page_token =
      StringField(command.method->output_type(), "next_page_token");
  const FieldDescriptor* items = ItemsField(command.method->output_type());
  std::unique_ptr<Message> page_request(request.New());
  page_request->CopyFrom(request);
  std::ostream* progress = env.list_paging.progress;
  int pages = 0;
  int64_t rows = 0;
  while (true) {
    absl::StatusOr<std::unique_ptr<Message>> page = CallPage(command, catalog, *page_request, env);
    if (!page.ok()) {
      if (progress != nullptr && pages > 0) *progress << "\n";
      const std::string token = page_request->GetReflection()->GetString(*page_request, page_token);
      if (pages > 0 && env.interrupted != nullptr && env.interrupted->load()) {
        TellMore(env, token, absl::StrCat(" (interrupted after ", rows, ")"));
        return absl::OkStatus();
      }
      if (pages > 0) {
        std::cerr << "plantctl: the listing stopped after " << rows << " rows; --page_token "
                  << token << " continues it\n";
      }
      return page.status();
    }
    Message& response = **page;
    ++pages;
    rows += response.GetReflection()->FieldSize(response, items);
    const std::string next = response.GetReflection()->GetString(response, next_page_token);
    if (!env.list_paging.all) {
      env.printer->PrintResponse(response);
      if (!next.empty()) TellMore(env, next, "");
      return absl::OkStatus();
    }
    // Every page follows: the token is ours to use, not the reader's; the other fields
    // (e.g. watch_cursor, consistent with the first page) are printed once.
    std::vector<const FieldDescriptor*> left_out;
    for (int i = 0; i < response.GetDescriptor()->field_count(); ++i) {
      const FieldDescriptor* field = response.GetDescriptor()->field(i);
      if (field == next_page_token || (pages > 1 && field != items)) left_out.push_back(field);
    }
    env.printer->PrintResponse(response, left_out);
    env.printer->Flush();  // rows go out as they arrive
    if (progress != nullptr) {
      *progress << "\rplantctl: " << rows << " rows, " << pages << " pages" << std::flush;
    }
    if (next.empty()) break;
    if (next == page_request->GetReflection()->GetString(*page_request, page_token)) {
      if (progress != nullptr) *progress << "\n";
      return absl::InternalError(
          absl::StrCat(command.method->name(), " returned the same page token twice"));
    }
    page_request->GetReflection()->SetString(page_request.get(), page_token, next);
  }
  if (progress != nullptr) *progress << "\n";
  return absl::OkStatus();
}

}  // namespace plantmesh::cli
