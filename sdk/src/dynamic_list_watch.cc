#include "plantmesh/sdk/dynamic_list_watch.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace plantmesh::sdk {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::Reflection;

const FieldDescriptor* SingularOfType(const Descriptor& type, absl::string_view name,
                                      FieldDescriptor::Type field_type) {
  const FieldDescriptor* field = type.FindFieldByName(std::string(name));
  if (field == nullptr || field->is_repeated() || field->type() != field_type) return nullptr;
  return field;
}

const FieldDescriptor* StringField(const Descriptor& type, absl::string_view name) {
  return SingularOfType(type, name, FieldDescriptor::TYPE_STRING);
}

const FieldDescriptor* Int64Field(const Descriptor& type, absl::string_view name) {
  return SingularOfType(type, name, FieldDescriptor::TYPE_INT64);
}

// The singular field of message type `item_type` in `type`.
const FieldDescriptor* ItemField(const Descriptor& type, const Descriptor* item_type) {
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor* field = type.field(i);
    if (!field->is_repeated() && field->message_type() == item_type) return field;
  }
  return nullptr;
}

const FieldDescriptor* FilterChangeField(const Descriptor& type) {
  const FieldDescriptor* field = type.FindFieldByName("filter_change");
  if (field == nullptr || field->is_repeated() || field->type() != FieldDescriptor::TYPE_ENUM) {
    return nullptr;
  }
  return field;
}

absl::Status Missing(const MethodDescriptor& method, absl::string_view what) {
  return absl::NotFoundError(absl::StrCat(method.full_name(), " is not a watchable list: ", what));
}

bool SameKind(const FieldDescriptor& a, const FieldDescriptor& b) {
  return a.type() == b.type() && a.is_repeated() == b.is_repeated() &&
         a.message_type() == b.message_type() && a.enum_type() == b.enum_type();
}

bool IsTimestamp(const FieldDescriptor* field) {
  return field != nullptr && !field->is_repeated() && field->message_type() != nullptr &&
         field->message_type()->full_name() == "google.protobuf.Timestamp";
}

// Seconds and nanos of a Timestamp field (by reflection: the pool may be dynamic).
std::pair<int64_t, int32_t> TimestampOf(const Message& message, const FieldDescriptor* field) {
  const Message& timestamp = message.GetReflection()->GetMessage(message, field);
  const Descriptor* type = timestamp.GetDescriptor();
  const Reflection* reflection = timestamp.GetReflection();
  return {reflection->GetInt64(timestamp, type->FindFieldByName("seconds")),
          reflection->GetInt32(timestamp, type->FindFieldByName("nanos"))};
}

// Whether singular `item_field` of `item` equals the value of singular `filter` in
// `request` (same kind).
bool SingularEquals(const Message& request, const FieldDescriptor* filter, const Message& item,
                    const FieldDescriptor* item_field) {
  const Reflection* r = request.GetReflection();
  const Reflection* i = item.GetReflection();
  switch (filter->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(request, filter) == i->GetString(item, item_field);
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->GetEnumValue(request, filter) == i->GetEnumValue(item, item_field);
    case FieldDescriptor::CPPTYPE_INT32:
      return r->GetInt32(request, filter) == i->GetInt32(item, item_field);
    case FieldDescriptor::CPPTYPE_INT64:
      return r->GetInt64(request, filter) == i->GetInt64(item, item_field);
    case FieldDescriptor::CPPTYPE_UINT32:
      return r->GetUInt32(request, filter) == i->GetUInt32(item, item_field);
    case FieldDescriptor::CPPTYPE_UINT64:
      return r->GetUInt64(request, filter) == i->GetUInt64(item, item_field);
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(request, filter) == i->GetBool(item, item_field);
    default:
      return true;  // messages, floating point: not filters here
  }
}

// Whether repeated `filter` of `request` contains singular `item_field` of `item`.
bool RepeatedContains(const Message& request, const FieldDescriptor* filter, const Message& item,
                      const FieldDescriptor* item_field) {
  const Reflection* r = request.GetReflection();
  const Reflection* i = item.GetReflection();
  const int size = r->FieldSize(request, filter);
  for (int k = 0; k < size; ++k) {
    switch (filter->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (r->GetRepeatedString(request, filter, k) == i->GetString(item, item_field)) return true;
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        if (r->GetRepeatedEnumValue(request, filter, k) == i->GetEnumValue(item, item_field)) {
          return true;
        }
        break;
      default:
        return true;  // not a filter kind this rule covers
    }
  }
  return false;
}

// The item field a repeated filter `statuses` / `categories` / `boxes` stands for.
const FieldDescriptor* SingularFor(const Descriptor& item_type, absl::string_view plural) {
  std::vector<std::string> candidates;
  if (absl::EndsWith(plural, "ies")) {
    candidates.push_back(absl::StrCat(plural.substr(0, plural.size() - 3), "y"));
  }
  if (absl::EndsWith(plural, "es")) candidates.emplace_back(plural.substr(0, plural.size() - 2));
  if (absl::EndsWith(plural, "s")) candidates.emplace_back(plural.substr(0, plural.size() - 1));
  for (const std::string& name : candidates) {
    const FieldDescriptor* field = item_type.FindFieldByName(name);
    if (field != nullptr && !field->is_repeated()) return field;
  }
  return nullptr;
}

bool FilterFieldMatches(const Message& request, const FieldDescriptor* filter,
                        const Message& item) {
  const Descriptor& item_type = *item.GetDescriptor();
  const std::string& name = filter->name();
  if (name == "page_size" || name == "page_token" || name == "order_by") return true;
  if (filter->is_repeated()) {
    const FieldDescriptor* item_field = SingularFor(item_type, name);
    if (item_field == nullptr || item_field->type() != filter->type() ||
        item_field->enum_type() != filter->enum_type()) {
      return true;
    }
    return RepeatedContains(request, filter, item, item_field);
  }
  if (IsTimestamp(filter)) {
    for (absl::string_view suffix : {"_from", "_to"}) {
      absl::string_view base = name;
      if (!absl::ConsumeSuffix(&base, suffix)) continue;
      const FieldDescriptor* item_field = item_type.FindFieldByName(std::string(base));
      if (!IsTimestamp(item_field)) return true;
      const auto bound = TimestampOf(request, filter);
      const auto value = TimestampOf(item, item_field);
      return suffix == "_from" ? !(value < bound) : value < bound;
    }
    return true;
  }
  const FieldDescriptor* item_field = item_type.FindFieldByName(name);
  if (item_field == nullptr || !SameKind(*filter, *item_field)) return true;
  return SingularEquals(request, filter, item, item_field);
}

}  // namespace

absl::StatusOr<WatchableList> FindWatchableList(const MethodDescriptor& method) {
  WatchableList shape;
  shape.list_method = &method;
  if (!absl::StartsWith(method.name(), "List") || method.client_streaming() ||
      method.server_streaming()) {
    return Missing(method, "not a unary List* method");
  }
  const std::string watch_name = absl::StrCat("Watch", method.name().substr(4));
  shape.watch_method = method.service()->FindMethodByName(watch_name);
  if (shape.watch_method == nullptr || !shape.watch_method->server_streaming() ||
      shape.watch_method->client_streaming()) {
    return Missing(method, absl::StrCat("no server-streaming ", watch_name));
  }
  const Descriptor& list_request = *method.input_type();
  const Descriptor& list_response = *method.output_type();
  const Descriptor& watch_request = *shape.watch_method->input_type();
  const Descriptor& watch_response = *shape.watch_method->output_type();

  shape.page_token = StringField(list_request, "page_token");
  shape.next_page_token = StringField(list_response, "next_page_token");
  shape.watch_cursor = StringField(list_response, "watch_cursor");
  shape.cursor = StringField(watch_request, "cursor");
  if (shape.page_token == nullptr) return Missing(method, "no page_token in the request");
  if (shape.next_page_token == nullptr) return Missing(method, "no next_page_token");
  if (shape.watch_cursor == nullptr) return Missing(method, "no watch_cursor in the response");
  if (shape.cursor == nullptr) return Missing(method, "no cursor in the Watch request");
  for (int i = 0; i < list_response.field_count(); ++i) {
    const FieldDescriptor* field = list_response.field(i);
    if (!field->is_repeated() || field->message_type() == nullptr) continue;
    if (shape.items != nullptr) return Missing(method, "more than one repeated message field");
    shape.items = field;
  }
  if (shape.items == nullptr) return Missing(method, "no repeated message field of items");
  const Descriptor* item_type = shape.items->message_type();
  shape.key = StringField(*item_type, "id");
  if (shape.key == nullptr) shape.key = StringField(*item_type, "name");
  shape.revision = Int64Field(*item_type, "revision");
  if (shape.key == nullptr) return Missing(method, "items have no string id or name");
  if (shape.revision == nullptr) return Missing(method, "items have no int64 revision");

  // The event: the response itself, or the singular message field holding the fields.
  auto event_fields = [&](const Descriptor& type) {
    shape.event_cursor = StringField(type, "cursor");
    shape.event_revision = Int64Field(type, "revision");
    shape.event_item = ItemField(type, item_type);
    return shape.event_cursor != nullptr && shape.event_revision != nullptr &&
           shape.event_item != nullptr;
  };
  if (!event_fields(watch_response)) {
    for (int i = 0; i < watch_response.field_count(); ++i) {
      const FieldDescriptor* field = watch_response.field(i);
      if (field->is_repeated() || field->message_type() == nullptr) continue;
      if (event_fields(*field->message_type())) {
        shape.event = field;
        break;
      }
    }
  }
  if (shape.event_item == nullptr || shape.event_cursor == nullptr ||
      shape.event_revision == nullptr) {
    return Missing(method, "the Watch response has no event with cursor, revision and item");
  }
  shape.filter_change = FilterChangeField(watch_response);
  if (shape.filter_change == nullptr && shape.event != nullptr) {
    shape.filter_change = FilterChangeField(*shape.event->message_type());
    shape.filter_change_on_event = shape.filter_change != nullptr;
  }
  for (int i = 0; i < list_request.field_count(); ++i) {
    const FieldDescriptor* field = list_request.field(i);
    if (field == shape.page_token) continue;
    const FieldDescriptor* twin = watch_request.FindFieldByName(field->name());
    if (twin != nullptr && twin != shape.cursor && SameKind(*field, *twin)) {
      shape.shared_filters.emplace_back(field, twin);
    }
  }
  return shape;
}

bool DynamicListFilterMatches(const Message& list_request, const Message& item) {
  std::vector<const FieldDescriptor*> set;
  list_request.GetReflection()->ListFields(list_request, &set);
  return std::all_of(set.begin(), set.end(), [&](const FieldDescriptor* filter) {
    return FilterFieldMatches(list_request, filter, item);
  });
}

std::string DynamicItemKey(const WatchableList& shape, const Message& item) {
  return item.GetReflection()->GetString(item, shape.key);
}

int64_t DynamicItemRevision(const WatchableList& shape, const Message& item) {
  return item.GetReflection()->GetInt64(item, shape.revision);
}

ListWatchSource<DynamicItem, DynamicWatchResponse> DynamicListWatchSource(
    const WatchableList& shape, const Message& list_request, DynamicListWatchCalls calls) {
  std::shared_ptr<Message> filter_copy(list_request.New());
  filter_copy->CopyFrom(list_request);
  std::shared_ptr<const Message> filter = std::move(filter_copy);
  auto shared_calls = std::make_shared<DynamicListWatchCalls>(std::move(calls));
  ListWatchSource<DynamicItem, DynamicWatchResponse> source;

  source.list_page =
      [shape, filter,
       shared_calls](const std::string& page_token) -> absl::StatusOr<ListWatchPage<DynamicItem>> {
    std::unique_ptr<Message> request(filter->New());
    request->CopyFrom(*filter);
    request->GetReflection()->SetString(request.get(), shape.page_token, page_token);
    absl::StatusOr<std::unique_ptr<Message>> response = shared_calls->list(*request);
    if (!response.ok()) return response.status();
    const Message& page = **response;
    const Reflection* reflection = page.GetReflection();
    ListWatchPage<DynamicItem> result;
    const int size = reflection->FieldSize(page, shape.items);
    for (int i = 0; i < size; ++i) {
      const Message& item = reflection->GetRepeatedMessage(page, shape.items, i);
      std::shared_ptr<Message> copy(item.New());
      copy->CopyFrom(item);
      result.items.push_back(std::move(copy));
    }
    result.next_page_token = reflection->GetString(page, shape.next_page_token);
    result.watch_cursor = reflection->GetString(page, shape.watch_cursor);
    return result;
  };

  source.watch = [shape, filter, shared_calls](const std::string& cursor) {
    std::unique_ptr<Message> request = shared_calls->new_message(shape.watch_method->input_type());
    const Reflection* from = filter->GetReflection();
    const Reflection* to = request->GetReflection();
    for (const auto& [list_field, watch_field] : shape.shared_filters) {
      // Singular strings and enums (codes, zones); the client-side match covers the rest.
      if (!list_field->is_repeated() && !from->HasField(*filter, list_field)) continue;
      switch (list_field->cpp_type()) {
        case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
          if (!list_field->is_repeated()) {
            to->SetString(request.get(), watch_field, from->GetString(*filter, list_field));
          }
          break;
        case google::protobuf::FieldDescriptor::CPPTYPE_ENUM:
          if (!list_field->is_repeated()) {
            to->SetEnumValue(request.get(), watch_field, from->GetEnumValue(*filter, list_field));
          }
          break;
        default:
          break;
      }
    }
    to->SetString(request.get(), shape.cursor, cursor);
    return shared_calls->watch(*request);
  };

  source.change = [shape](const DynamicWatchResponse& response) {
    const Message& message = *response.message;
    const Message& event = shape.event == nullptr
                               ? message
                               : message.GetReflection()->GetMessage(message, shape.event);
    const Reflection* reflection = event.GetReflection();
    ListWatchChange<DynamicItem> change;
    const Message& item = reflection->GetMessage(event, shape.event_item);
    std::shared_ptr<Message> copy(item.New());
    copy->CopyFrom(item);
    change.item = std::move(copy);
    change.revision = reflection->GetInt64(event, shape.event_revision);
    change.cursor = reflection->GetString(event, shape.event_cursor);
    if (shape.filter_change != nullptr) {
      const Message& holder = shape.filter_change_on_event ? event : message;
      const google::protobuf::EnumValueDescriptor* value =
          holder.GetReflection()->GetEnum(holder, shape.filter_change);
      change.left_filter = value != nullptr && absl::EndsWith(value->name(), "_LEFT");
    }
    return change;
  };
  source.key = [shape](const DynamicItem& item) { return DynamicItemKey(shape, *item); };
  source.revision = [shape](const DynamicItem& item) { return DynamicItemRevision(shape, *item); };
  source.matches = [filter](const DynamicItem& item) {
    return DynamicListFilterMatches(*filter, *item);
  };
  return source;
}

}  // namespace plantmesh::sdk
