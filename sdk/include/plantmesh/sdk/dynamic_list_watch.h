// ListWatch (list_watch.h) for programs that know a resource only by its contract's
// descriptors (dynamic messages, e.g. plantctl): where the List and Watch* messages
// keep items, tokens, cursors and revisions is found from the descriptors, by the
// contract's watch rules; the list, resume and de-duplication logic is ListWatch's own.
//
// A List method is watchable when
//   - its service has a server-streaming `Watch<X>` method for `List<X>` whose request
//     has a string `cursor`;
//   - its response has one repeated message field (the items, each with a string `id`
//     or `name` and an int64 `revision`), `next_page_token` and `watch_cursor`;
//   - its request has `page_token`;
//   - the Watch response carries the event: a string `cursor`, an int64 `revision`
//     and a field of the item type, in the response itself or in one singular message
//     field of it (`event`); an enum field `filter_change` (on the response or the
//     event) whose value name ends in `_LEFT` says the item left the watch's filter.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "plantmesh/sdk/list_watch.h"
#include "plantmesh/sdk/streams.h"

namespace plantmesh::sdk {

// An item of the list (a copy, never changed once made).
using DynamicItem = std::shared_ptr<const google::protobuf::Message>;

// One Watch* response; ReadStream<DynamicWatchResponse>::Next sets `message`.
struct DynamicWatchResponse {
  std::shared_ptr<google::protobuf::Message> message;
};

using DynamicListWatch = ListWatch<DynamicItem, DynamicWatchResponse>;

// Where the fields are (see the header comment). Descriptors of the caller's pool.
struct WatchableList {
  const google::protobuf::MethodDescriptor* list_method = nullptr;
  const google::protobuf::MethodDescriptor* watch_method = nullptr;
  // List request / response.
  const google::protobuf::FieldDescriptor* page_token = nullptr;
  const google::protobuf::FieldDescriptor* items = nullptr;
  const google::protobuf::FieldDescriptor* next_page_token = nullptr;
  const google::protobuf::FieldDescriptor* watch_cursor = nullptr;
  // Watch request: `cursor`, and the list request's fields the watch request also has
  // (same name and type, e.g. `zone`), copied so that the server filters the events.
  const google::protobuf::FieldDescriptor* cursor = nullptr;
  std::vector<std::pair<const google::protobuf::FieldDescriptor*,
                        const google::protobuf::FieldDescriptor*>>
      shared_filters;  // (list request field, watch request field)
  // Watch response: the event holder (nullptr: the response itself) and its fields.
  const google::protobuf::FieldDescriptor* event = nullptr;
  const google::protobuf::FieldDescriptor* event_cursor = nullptr;
  const google::protobuf::FieldDescriptor* event_revision = nullptr;
  const google::protobuf::FieldDescriptor* event_item = nullptr;
  const google::protobuf::FieldDescriptor* filter_change = nullptr;  // may be nullptr
  bool filter_change_on_event = false;
  // Item: key and revision.
  const google::protobuf::FieldDescriptor* key = nullptr;
  const google::protobuf::FieldDescriptor* revision = nullptr;
};

// The watch shape of `list_method`; NOT_FOUND saying what is missing when it is not
// a watchable List method.
absl::StatusOr<WatchableList> FindWatchableList(const google::protobuf::MethodDescriptor& method);

// Whether `item` matches the filter fields set in `list_request`, by the contract's
// naming: a field of the same name and type is compared for equality (`zone`); a
// repeated field named as the plural of an item field lists the accepted values
// (`statuses` for `status`); `<t>_from` / `<t>_to` bound a Timestamp `<t>` (from
// inclusive, to exclusive). page_size, page_token, order_by and fields without such
// a counterpart on the item are not filters here (they do not exclude).
bool DynamicListFilterMatches(const google::protobuf::Message& list_request,
                              const google::protobuf::Message& item);

// The calls, made by the caller (e.g. over grpc::GenericStub).
struct DynamicListWatchCalls {
  // The List call; the response is a message of the List method's output type.
  std::function<absl::StatusOr<std::unique_ptr<google::protobuf::Message>>(
      const google::protobuf::Message& request)>
      list;
  // Opens the Watch* stream for `request`.
  std::function<std::unique_ptr<ReadStream<DynamicWatchResponse>>(
      const google::protobuf::Message& request)>
      watch;
  // A new, empty message of `type` (from the caller's message factory).
  std::function<std::unique_ptr<google::protobuf::Message>(
      const google::protobuf::Descriptor* type)>
      new_message;
};

// The ListWatch source for `shape`, listing with `list_request` (its page_token is
// replaced page by page) and watching with its shared filters.
ListWatchSource<DynamicItem, DynamicWatchResponse> DynamicListWatchSource(
    const WatchableList& shape, const google::protobuf::Message& list_request,
    DynamicListWatchCalls calls);

// The item's key (its `id` or `name`) and revision, as the source reads them.
std::string DynamicItemKey(const WatchableList& shape, const google::protobuf::Message& item);
int64_t DynamicItemRevision(const WatchableList& shape, const google::protobuf::Message& item);

}  // namespace plantmesh::sdk
