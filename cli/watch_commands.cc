#include "cli/watch_commands.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cli/generic_call.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "plantmesh/sdk/dynamic_list_watch.h"
#include "plantmesh/sdk/list_watch.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

const FieldDescriptor* StringField(const Descriptor& type, const std::string& name) {
  const FieldDescriptor* field = type.FindFieldByName(name);
  if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

// Where a watch response keeps a string field such as its `cursor` or its events'
// `event_id`: `holder` (nullptr = the root) . `field`.
struct StringFieldPath {
  const FieldDescriptor* holder = nullptr;
  const FieldDescriptor* field = nullptr;
};

// `name` at the root of `response`, or in one of its singular message fields.
StringFieldPath FindStringField(const Descriptor& response, const std::string& name) {
  if (const FieldDescriptor* field = StringField(response, name)) return {nullptr, field};
  for (int i = 0; i < response.field_count(); ++i) {
    const FieldDescriptor* holder = response.field(i);
    if (holder->is_repeated() || holder->message_type() == nullptr) continue;
    if (const FieldDescriptor* field = StringField(*holder->message_type(), name)) {
      return {holder, field};
    }
  }
  return {};
}

std::string StringAt(const Message& response, const StringFieldPath& path) {
  if (path.field == nullptr) return "";
  const Message* holder = &response;
  if (path.holder != nullptr) {
    if (!response.GetReflection()->HasField(response, path.holder)) return "";
    holder = &response.GetReflection()->GetMessage(response, path.holder);
  }
  return holder->GetReflection()->GetString(*holder, path.field);
}

// The event ids printed last, so that an event delivered again (the platform delivers
// at least once: a relay that crashed after publishing publishes again, with the same
// event_id) is printed once.
class RecentEventIds {
 public:
  // False when `id` was seen among the last kCapacity ids ("" is never a duplicate).
  bool Insert(const std::string& id) {
    if (id.empty()) return true;
    if (!ids_.insert(id).second) return false;
    order_.push_back(id);
    if (order_.size() > kCapacity) {
      ids_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }

 private:
  static constexpr size_t kCapacity = 4096;
  std::set<std::string> ids_;
  std::deque<std::string> order_;
};

// Sleeps `duration` unless the user interrupts first; false when interrupted.
class InterruptibleSleep {
 public:
  void Interrupt() {
    absl::MutexLock lock(&mu_);
    interrupted_ = true;
  }
  bool Sleep(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&interrupted_), duration);
    return !interrupted_;
  }

 private:
  absl::Mutex mu_;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
};

// One call of a server-streaming method by name; registered with the canceller.
class GenericReadStream final : public sdk::ReadStream<sdk::DynamicWatchResponse> {
 public:
  GenericReadStream(const RunEnvironment& env, const ContractCatalog& catalog,
                    const MethodCommand& command, const Message& request)
      : env_(env),
        catalog_(catalog),
        response_type_(command.method->output_type()),
        context_(std::make_unique<grpc::ClientContext>()) {
    if (env_.on_call) env_.on_call(context_.get());
    call_ = std::make_unique<GenericCall>(env_.channel, command.grpc_path, context_.get());
    if (call_->Write(request)) call_->WritesDone();
  }
  ~GenericReadStream() override {
    if (!finished_) {
      context_->TryCancel();
      Finish().IgnoreError();  // cancelled by us: nothing to report
    }
  }

  bool Next(sdk::DynamicWatchResponse* out) override {
    if (finished_) return false;
    std::shared_ptr<Message> message = catalog_.NewMessage(response_type_);
    if (!call_->Read(message.get())) return false;
    out->message = std::move(message);
    return true;
  }
  absl::Status Finish() override {
    if (!finished_) {
      finished_ = true;
      status_ = sdk::FromGrpcStatus(call_->Finish(), /*mutual_tls=*/!env_.options.insecure);
      if (env_.on_call) env_.on_call(nullptr);
    }
    return status_;
  }
  void Cancel() override { context_->TryCancel(); }

 private:
  const RunEnvironment& env_;
  const ContractCatalog& catalog_;
  const Descriptor* response_type_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<GenericCall> call_;
  bool finished_ = false;
  absl::Status status_;
};

// A unary call by name with the default deadline.
absl::StatusOr<std::unique_ptr<Message>> CallListPage(
    const RunEnvironment& env, const ContractCatalog& catalog,
    const google::protobuf::MethodDescriptor& method, const Message& request) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + env.options.default_deadline));
  if (env.on_call) env.on_call(&context);
  std::unique_ptr<Message> response = catalog.NewMessage(method.output_type());
  grpc::Status status;
  bool received = false;
  {
    GenericCall call(env.channel,
                     absl::StrCat("/", method.service()->full_name(), "/", method.name()),
                     &context);
    if (call.Write(request)) call.WritesDone();
    received = call.Read(response.get());
    status = call.Finish();
  }
  if (env.on_call) env.on_call(nullptr);
  if (!status.ok()) return sdk::FromGrpcStatus(status, /*mutual_tls=*/!env.options.insecure);
  if (!received) return absl::InternalError(absl::StrCat(method.name(), " returned no response"));
  return response;
}

bool UserStopped(const RunEnvironment& env) {
  return env.interrupted != nullptr && env.interrupted->load();
}

// How a watch the user stopped ends: OK (exit 0) once it was following the server, as a
// stream printed as it arrives ends; CANCELLED "interrupted" (exit 130) when it never was
// (re-test: a watch stopped while its server could not be reached exited 0, as if it
// had watched).
absl::Status StoppedWatch(const RunEnvironment& env, bool followed) {
  const bool connected = env.channel != nullptr &&
                         env.channel->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
  return followed || connected ? absl::OkStatus() : absl::CancelledError("interrupted");
}

}  // namespace

bool IsResumableWatch(const MethodCommand& command) {
  if (command.kind != StreamKind::kServerStreaming) return false;
  if (StringField(*command.method->input_type(), "cursor") == nullptr) return false;
  return FindStringField(*command.method->output_type(), "cursor").field != nullptr;
}

absl::Status RunResumingWatch(const MethodBinding& binding, const ContractCatalog& catalog,
                              const Message& request, const RunEnvironment& env) {
  return FollowResumingWatch(
      *binding.command, catalog, request, env,
      [&env](const Message& response) { env.printer->PrintStreamed(response); });
}

absl::Status FollowResumingWatch(const MethodCommand& command, const ContractCatalog& catalog,
                                 const Message& request, const RunEnvironment& env,
                                 const std::function<void(const Message&)>& on_response,
                                 const std::function<std::string()>& what_was_missed) {
  const StringFieldPath response_cursor = FindStringField(*command.method->output_type(), "cursor");
  const StringFieldPath event_id = FindStringField(*command.method->output_type(), "event_id");
  RecentEventIds printed;
  const FieldDescriptor* request_cursor = StringField(*command.method->input_type(), "cursor");
  std::unique_ptr<Message> next_request = catalog.NewMessage(command.method->input_type());
  next_request->CopyFrom(request);
  InterruptibleSleep sleep;
  if (env.set_stopper) env.set_stopper([&sleep] { sleep.Interrupt(); });
  struct ClearStopper {
    const RunEnvironment& env;
    ~ClearStopper() {
      if (env.set_stopper) env.set_stopper(nullptr);
    }
  } clear_stopper{env};

  absl::Duration backoff = absl::ZeroDuration();
  bool followed = false;  // some stream delivered a message
  while (true) {
    if (backoff > absl::ZeroDuration() && !sleep.Sleep(backoff)) {
      return StoppedWatch(env, followed);
    }
    if (UserStopped(env)) return StoppedWatch(env, followed);
    GenericReadStream stream(env, catalog, command, *next_request);
    sdk::DynamicWatchResponse response;
    bool received = false;
    while (stream.Next(&response)) {
      received = true;
      followed = true;
      if (printed.Insert(StringAt(*response.message, event_id))) {
        on_response(*response.message);
      }
      const std::string cursor = StringAt(*response.message, response_cursor);
      if (!cursor.empty()) {
        next_request->GetReflection()->SetString(next_request.get(), request_cursor, cursor);
      }
    }
    const absl::Status ended = stream.Finish();
    if (UserStopped(env)) return StoppedWatch(env, followed);
    const std::string reason = sdk::ErrorReason(ended);
    if (what_was_missed && absl::IsFailedPrecondition(ended) &&
        (reason == "CURSOR_GENERATION_CHANGED" || reason == "CURSOR_EXPIRED")) {
      next_request->GetReflection()->SetString(next_request.get(), request_cursor, "");
      backoff = kFirstBackoff;
      env.printer->Note(absl::StrCat("watch ended (", ended.message(),
                                     "); starting again from the current values; ",
                                     what_was_missed()));
      continue;
    }
    // The user's own stop was handled above: a CANCELLED now is the server's. A stream
    // the server ended OK is done (no watch does; a finite stream that takes a cursor).
    if (ended.ok() || !sdk::WatchEndIsResumable(ended)) return ended;
    // A server that drains names where to resume (it may be past the last event sent).
    const std::string named = sdk::ErrorMetadata(ended, "cursor");
    if (!named.empty()) {
      next_request->GetReflection()->SetString(next_request.get(), request_cursor, named);
    }
    backoff =
        received ? kFirstBackoff : std::min(std::max(backoff * 2, kFirstBackoff), kMaxBackoff);
    env.printer->Note(absl::StrCat(
        "watch ended (", absl::StatusCodeToString(ended.code()), ": ", ended.message(),
        "); resuming from cursor \"",
        next_request->GetReflection()->GetString(*next_request, request_cursor), "\""));
  }
}

absl::Status RunListWatch(const MethodBinding& binding, const ContractCatalog& catalog,
                          const Message& request, const RunEnvironment& env) {
  absl::StatusOr<sdk::WatchableList> shape = sdk::FindWatchableList(*binding.command->method);
  if (!shape.ok()) return shape.status();
  const MethodCommand* watch_command =
      catalog.Find(binding.command->service_command, KebabCase(shape->watch_method->name()));
  if (watch_command == nullptr) {
    return absl::InternalError(absl::StrCat("no command for ", shape->watch_method->full_name()));
  }

  sdk::DynamicListWatchCalls calls;
  calls.list = [&env, &catalog, &shape](const Message& page_request) {
    return CallListPage(env, catalog, *shape->list_method, page_request);
  };
  calls.watch = [&env, &catalog, watch_command](const Message& watch_request)
      -> std::unique_ptr<sdk::ReadStream<sdk::DynamicWatchResponse>> {
    return std::make_unique<GenericReadStream>(env, catalog, *watch_command, watch_request);
  };
  calls.new_message = [&catalog](const Descriptor* type) { return catalog.NewMessage(type); };
  sdk::DynamicListWatch list_watch(sdk::DynamicListWatchSource(*shape, request, calls),
                                   sdk::ListWatchOptions{kFirstBackoff, kMaxBackoff});
  if (env.set_stopper) env.set_stopper([&list_watch] { list_watch.Stop(); });
  struct ClearStopper {
    const RunEnvironment& env;
    ~ClearStopper() {
      if (env.set_stopper) env.set_stopper(nullptr);
    }
  } clear_stopper{env};

  int64_t lists = 0;
  int64_t resumes = 0;
  sdk::ListWatchHandlers<sdk::DynamicItem> handlers;
  handlers.on_list = [&](const std::vector<sdk::DynamicItem>& items) {
    if (lists++ > 0) env.printer->Note("the watch cursor can no longer be served: listed again");
    std::unique_ptr<Message> all = catalog.NewMessage(shape->list_method->output_type());
    for (const sdk::DynamicItem& item : items) {
      all->GetReflection()->AddMessage(all.get(), shape->items)->CopyFrom(*item);
    }
    env.printer->PrintItems(*all, shape->items);
  };
  handlers.on_upsert = [&](const sdk::DynamicItem& item) {
    // Resumes are reported once the stream is back, with the first change after it.
    if (const int64_t now = list_watch.Stats().resumes; now != resumes) {
      resumes = now;
      env.printer->Note(absl::StrCat("watch resumed after: ", absl::StripTrailingAsciiWhitespace(
                                                                  list_watch.Stats().last_end)));
    }
    env.printer->PrintStreamed(*item);
  };
  int64_t list_failures = 0;
  handlers.on_retry = [&](const absl::Status& error, absl::Duration retry_in) {
    // A list that failed (no server, a refused certificate): said each time, so that a
    // watch that shows nothing is not taken for an empty list.
    if (const int64_t now = list_watch.Stats().list_failures; now != list_failures) {
      list_failures = now;
      env.printer->Note(absl::StrCat(
          "listing failed: ", absl::StripTrailingAsciiWhitespace(sdk::StatusLine(error)),
          "; trying again in ", absl::FormatDuration(retry_in)));
    }
  };
  handlers.on_remove = [&](const sdk::DynamicItem& item) {
    env.printer->Note(absl::StrCat(sdk::DynamicItemKey(*shape, *item),
                                   " left the list's filter (revision ",
                                   sdk::DynamicItemRevision(*shape, *item), ")"));
  };
  absl::Status status = list_watch.Run(handlers);
  // Stopped before its listing was printed: it never followed (exit 130).
  if (UserStopped(env)) return lists > 0 ? absl::OkStatus() : absl::CancelledError("interrupted");
  return status;
}

}  // namespace plantmesh::cli
