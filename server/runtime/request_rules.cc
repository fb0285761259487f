#include "server/runtime/request_rules.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/contract.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::internal::WireFormatLite;

// Map keys and other client text in a path are cut here.
constexpr size_t kMaxKeyInPath = 64;
// As protobuf's own parser: deeper nesting is not walked.
constexpr int kMaxDepth = 100;

// The well-known time types, whose values have a valid range (their .proto files say
// which): a value outside it means nothing, and PostgreSQL or time arithmetic would
// fail on it deep inside a service.
enum class TimeType { kNone, kTimestamp, kDuration };

TimeType TimeTypeOf(const Descriptor* type) {
  if (type == nullptr) return TimeType::kNone;
  if (type->full_name() == "google.protobuf.Timestamp") return TimeType::kTimestamp;
  if (type->full_name() == "google.protobuf.Duration") return TimeType::kDuration;
  return TimeType::kNone;
}

// Why `value` (a Timestamp or Duration) is out of its type's range, or nullopt.
std::optional<std::string> TimeViolation(const Message& value, TimeType type) {
  using google::protobuf::util::TimeUtil;
  const Descriptor* d = value.GetDescriptor();
  const Reflection* r = value.GetReflection();
  const int64_t seconds = r->GetInt64(value, d->FindFieldByNumber(1));
  const int32_t nanos = r->GetInt32(value, d->FindFieldByNumber(2));
  if (type == TimeType::kTimestamp) {
    std::optional<std::string> violation = TimestampViolation(seconds, nanos);
    if (!violation) return std::nullopt;
    return absl::StrCat("is ", *violation);
  }
  if (seconds < TimeUtil::kDurationMinSeconds || seconds > TimeUtil::kDurationMaxSeconds ||
      nanos < -999999999 || nanos > 999999999 || (seconds > 0 && nanos < 0) ||
      (seconds < 0 && nanos > 0)) {
    return "is not a valid google.protobuf.Duration: seconds must lie within "
           "-315576000000..315576000000 (10,000 years) and nanos within -999999999..999999999, "
           "with the sign of seconds";
  }
  return std::nullopt;
}

// What to look at in one message type: only fields that are, or may hold, strings or
// time values.
struct MessagePlan;
struct FieldPlan {
  enum class Shape { kString, kMessage, kMap, kTime, kEnum, kFloating };
  const FieldDescriptor* field = nullptr;
  Shape shape = Shape::kString;
  TextRule rule;  // kString, and kMap string values
  // kString: the AIP-155 request_id, an idempotency key (idempotency.h), which may be
  // empty but not blank.
  bool request_id = false;
  TimeType time = TimeType::kNone;  // kTime
  // kMessage: the field's type; kMap: the value's type when it is a message that may
  // hold strings. Null otherwise.
  const MessagePlan* message = nullptr;
  const FieldDescriptor* map_key = nullptr;    // kMap
  const FieldDescriptor* map_value = nullptr;  // kMap
};
struct MessagePlan {
  std::vector<FieldPlan> fields;
  bool update = false;  // a request with a root update_mask (contract::UpdateMaskOf)
};

// Plans per message type, built once for a type and all types it reaches. Plans are
// never freed or changed once built, so they are read without the lock.
class PlanCache {
 public:
  const MessagePlan& For(const Descriptor* type) {
    {
      absl::ReaderMutexLock lock(&mutex_);
      auto it = plans_.find(type);
      if (it != plans_.end()) return *it->second;
    }
    absl::MutexLock lock(&mutex_);
    Build(type);
    return *plans_.at(type);
  }

 private:
  // Builds plans for `root` and every type it reaches that has none yet.
  void Build(const Descriptor* root) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (plans_.contains(root)) return;
    // Every type reachable from root.
    std::vector<const Descriptor*> types;
    absl::flat_hash_map<const Descriptor*, bool> holds_checked;
    std::vector<const Descriptor*> pending = {root};
    holds_checked[root] = TimeTypeOf(root) != TimeType::kNone;
    while (!pending.empty()) {
      const Descriptor* type = pending.back();
      pending.pop_back();
      types.push_back(type);
      for (int i = 0; i < type->field_count(); ++i) {
        if (contract::ElementsJudgedByService(type->field(i))) continue;
        const Descriptor* child = type->field(i)->message_type();
        if (child != nullptr &&
            holds_checked.emplace(child, TimeTypeOf(child) != TimeType::kNone).second) {
          pending.push_back(child);
        }
      }
    }
    // Whether a type may hold a string or a time value, at any depth: a fixed point,
    // since types can reach themselves (google.protobuf.Struct and Value do).
    for (bool changed = true; changed;) {
      changed = false;
      for (const Descriptor* type : types) {
        if (holds_checked[type]) continue;
        for (int i = 0; i < type->field_count(); ++i) {
          const FieldDescriptor* field = type->field(i);
          if (contract::ElementsJudgedByService(field)) continue;
          if (field->type() == FieldDescriptor::TYPE_STRING ||
              field->type() == FieldDescriptor::TYPE_ENUM ||
              field->type() == FieldDescriptor::TYPE_DOUBLE ||
              field->type() == FieldDescriptor::TYPE_FLOAT ||
              (field->message_type() != nullptr && holds_checked[field->message_type()])) {
            holds_checked[type] = changed = true;
            break;
          }
        }
      }
    }
    // Plans are created first so that fields can point at plans of any type.
    for (const Descriptor* type : types) {
      if (!plans_.contains(type)) {
        auto plan = std::make_unique<MessagePlan>();
        plan->update = contract::UpdateMaskOf(type) != nullptr;
        plans_.emplace(type, std::move(plan));
      }
    }
    for (const Descriptor* type : types) {
      MessagePlan& plan = *plans_.at(type);
      if (!plan.fields.empty() || !holds_checked[type]) continue;  // already built, or nothing
      for (int i = 0; i < type->field_count(); ++i) {
        const FieldDescriptor* field = type->field(i);
        if (contract::ElementsJudgedByService(field)) continue;  // the service's, one by one
        FieldPlan entry;
        entry.field = field;
        if (field->type() == FieldDescriptor::TYPE_STRING) {
          entry.shape = FieldPlan::Shape::kString;
          entry.rule = RuleOf(field);
          entry.request_id = field->name() == "request_id" && !field->is_repeated();
        } else if (field->type() == FieldDescriptor::TYPE_ENUM) {
          entry.shape = FieldPlan::Shape::kEnum;
        } else if (field->type() == FieldDescriptor::TYPE_DOUBLE ||
                   field->type() == FieldDescriptor::TYPE_FLOAT) {
          entry.shape = FieldPlan::Shape::kFloating;
        } else if (field->is_map()) {
          entry.shape = FieldPlan::Shape::kMap;
          entry.map_key = field->message_type()->map_key();
          entry.map_value = field->message_type()->map_value();
          if (entry.map_value->type() == FieldDescriptor::TYPE_STRING) entry.rule = RuleOf(field);
          const Descriptor* value_type = entry.map_value->message_type();
          if (value_type != nullptr && holds_checked[value_type]) {
            entry.message = plans_.at(value_type).get();
          }
          if (entry.map_key->type() != FieldDescriptor::TYPE_STRING &&
              entry.map_value->type() != FieldDescriptor::TYPE_STRING && entry.message == nullptr) {
            continue;
          }
        } else if (TimeTypeOf(field->message_type()) != TimeType::kNone) {
          entry.shape = FieldPlan::Shape::kTime;
          entry.time = TimeTypeOf(field->message_type());
        } else if (field->message_type() != nullptr && holds_checked[field->message_type()]) {
          entry.shape = FieldPlan::Shape::kMessage;
          entry.message = plans_.at(field->message_type()).get();
        } else {
          continue;
        }
        plan.fields.push_back(entry);
      }
    }
  }

  absl::Mutex mutex_;
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<MessagePlan>> plans_
      ABSL_GUARDED_BY(mutex_);
};

PlanCache& Plans() {
  static auto* cache = new PlanCache;
  return *cache;
}

// The base rule, for map keys.
const TextRule kKeyRule{TextKind::kSingleLine, 0};

// `["key"]` for a string key that keeps the base rule (cut when long), `[7]` for others.
std::string StringKeySuffix(const std::string& key) {
  std::string shown = key.size() <= kMaxKeyInPath ? key : key.substr(0, kMaxKeyInPath) + "...";
  return absl::StrCat("[\"", absl::CEscape(shown), "\"]");
}

// Checks `value`; `path()` names the field, and is only built for a violation.
template <typename PathFn>
void CheckString(const std::string& value, const TextRule& rule, PathFn path, Violations* out) {
  if (value.empty()) return;
  if (std::optional<std::string> why = TextViolation(value, rule))
    out->Add(path(), *std::move(why));
}

// An enum number the contract does not declare (proto3 keeps any number a client sends):
// refused by name for every enum field, so that no service reads it as a missing value or
// stores a state it has no name for (outside testing: `bucket_width: 99` was told "must
// be given", `decision: 99` "required").
template <typename PathFn>
void CheckEnum(const FieldDescriptor* field, int value, PathFn path, Violations* out) {
  const google::protobuf::EnumDescriptor* type = field->enum_type();
  if (type->FindValueByNumber(value) != nullptr) return;
  std::string names;
  for (int i = 0; i < type->value_count() && i < 12; ++i) {
    absl::StrAppend(&names, i == 0 ? "" : ", ", type->value(i)->name());
  }
  if (type->value_count() > 12) absl::StrAppend(&names, ", ...");
  out->Add(path(),
           absl::StrCat("unknown value ", value, " of ", type->full_name(), " (", names, ")"));
}

// `path[index]`: an element of a repeated field.
std::string Indexed(const std::string& path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

// Where a walk is in the request. Kept as pointers to field names and turned into text
// only for a violation: a request that keeps the rules builds no string.
class Path {
 public:
  void Push(const FieldDescriptor* field) { segments_.push_back({&field->name(), -1, {}}); }
  void Pop() { segments_.pop_back(); }
  void SetIndex(int index) { segments_.back().index = index; }
  void SetKey(std::string suffix) { segments_.back().key_suffix = std::move(suffix); }
  void ClearKey() { segments_.back().key_suffix.clear(); }

  std::string ToString() const {
    std::string text;
    for (const Segment& segment : segments_) {
      if (!text.empty()) text += '.';
      text += *segment.name;
      if (segment.index >= 0) absl::StrAppend(&text, "[", segment.index, "]");
      text += segment.key_suffix;
    }
    return text;
  }

 private:
  struct Segment {
    const std::string* name;
    int index;               // -1: not an element of a repeated field
    std::string key_suffix;  // `["key"]` for a map entry
  };
  absl::InlinedVector<Segment, 8> segments_;  // no allocation for usual depths
};

std::string ScalarKeySuffix(const Message& entry, const FieldDescriptor* key) {
  const Reflection* r = entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat("[", r->GetInt32(entry, key), "]");
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat("[", r->GetInt64(entry, key), "]");
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat("[", r->GetUInt32(entry, key), "]");
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat("[", r->GetUInt64(entry, key), "]");
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(entry, key) ? "[true]" : "[false]";
    default:
      return "[]";
  }
}

void Walk(const Message& message, const MessagePlan& plan, Path* path, Violations* out, int depth) {
  if (depth > kMaxDepth) return;
  const Reflection* r = message.GetReflection();
  std::string scratch;
  const auto here = [path] { return path->ToString(); };
  for (const FieldPlan& f : plan.fields) {
    path->Push(f.field);
    switch (f.shape) {
      case FieldPlan::Shape::kString:
        if (f.field->is_repeated()) {
          const int n = r->FieldSize(message, f.field);
          for (int i = 0; i < n; ++i) {
            path->SetIndex(i);
            const std::string& value = r->GetRepeatedStringReference(message, f.field, i, &scratch);
            // Every list of the contracts is of ids: an empty entry names nothing (outside
            // testing: `machine_ids: [""]` was told "no machine  is registered").
            if (value.empty()) {
              out->Add(here(), "empty: a list entry must name something");
              continue;
            }
            CheckString(value, f.rule, here, out);
          }
        } else {
          const std::string& value = r->GetStringReference(message, f.field, &scratch);
          // A key of only white space or invisible characters says nothing, yet would be
          // a key: unrelated calls sending " " would be answered as retries of each other.
          if (f.request_id && !value.empty() && common::IsBlankText(value)) {
            out->Add(here(),
                     "only white space or invisible characters given: leave it empty, or send "
                     "an id unique to this call (a UUID)");
          } else {
            CheckString(value, f.rule, here, out);
          }
        }
        break;
      case FieldPlan::Shape::kMessage:
        if (f.field->is_repeated()) {
          const int n = r->FieldSize(message, f.field);
          for (int i = 0; i < n; ++i) {
            path->SetIndex(i);
            Walk(r->GetRepeatedMessage(message, f.field, i), *f.message, path, out, depth + 1);
          }
        } else if (r->HasField(message, f.field)) {
          Walk(r->GetMessage(message, f.field), *f.message, path, out, depth + 1);
        }
        break;
      case FieldPlan::Shape::kEnum:
        if (f.field->is_repeated()) {
          const int n = r->FieldSize(message, f.field);
          for (int i = 0; i < n; ++i) {
            path->SetIndex(i);
            const int value = r->GetRepeatedEnumValue(message, f.field, i);
            // A list entry names something, as a string entry must (outside testing:
            // `statuses: [0]` was "unknown status 0" in one service, a filter in another).
            if (value == 0 && f.field->enum_type()->FindValueByNumber(0) != nullptr) {
              out->Add(here(), absl::StrCat(f.field->enum_type()->FindValueByNumber(0)->name(),
                                            " (0) names nothing: a list entry must name a value"));
              continue;
            }
            CheckEnum(f.field, value, here, out);
          }
        } else {
          CheckEnum(f.field, r->GetEnumValue(message, f.field), here, out);
        }
        break;
      case FieldPlan::Shape::kFloating: {
        // NaN and infinities are no quantity, rate or percentage: one wording for every
        // field of every service (outside testing: three, and ranges such as "must be
        // 0.001 to 86400 seconds" for NaN). Values a service judges one by one (a telemetry
        // sample's NOT_FINITE) are not walked.
        const auto check = [&](double value) {
          if (!std::isfinite(value)) {
            out->Add(here(), absl::StrCat("must be finite (",
                                          std::isnan(value) ? "NaN" : "infinity", " is no value)"));
          }
        };
        const bool is_double = f.field->type() == FieldDescriptor::TYPE_DOUBLE;
        if (f.field->is_repeated()) {
          const int n = r->FieldSize(message, f.field);
          for (int i = 0; i < n; ++i) {
            path->SetIndex(i);
            check(is_double ? r->GetRepeatedDouble(message, f.field, i)
                            : r->GetRepeatedFloat(message, f.field, i));
          }
        } else {
          check(is_double ? r->GetDouble(message, f.field) : r->GetFloat(message, f.field));
        }
        break;
      }
      case FieldPlan::Shape::kTime:
        if (f.field->is_repeated()) {
          const int n = r->FieldSize(message, f.field);
          for (int i = 0; i < n; ++i) {
            path->SetIndex(i);
            if (auto why = TimeViolation(r->GetRepeatedMessage(message, f.field, i), f.time)) {
              out->Add(here(), *std::move(why));
            }
          }
        } else if (r->HasField(message, f.field)) {
          if (auto why = TimeViolation(r->GetMessage(message, f.field), f.time)) {
            out->Add(here(), *std::move(why));
          }
        }
        break;
      case FieldPlan::Shape::kMap: {
        const int n = r->FieldSize(message, f.field);
        for (int i = 0; i < n; ++i) {
          const Message& entry = r->GetRepeatedMessage(message, f.field, i);
          const Reflection* er = entry.GetReflection();
          path->ClearKey();
          if (f.map_key->type() == FieldDescriptor::TYPE_STRING) {
            const std::string& key = er->GetStringReference(entry, f.map_key, &scratch);
            if (std::optional<std::string> why = TextViolation(key, kKeyRule)) {
              out->Add(path->ToString(), absl::StrCat("a key ", *why));
              continue;
            }
            path->SetKey(StringKeySuffix(key));
          } else {
            path->SetKey(ScalarKeySuffix(entry, f.map_key));
          }
          if (f.map_value->type() == FieldDescriptor::TYPE_STRING) {
            std::string value_scratch;
            CheckString(er->GetStringReference(entry, f.map_value, &value_scratch), f.rule, here,
                        out);
          } else if (f.message != nullptr && er->HasField(entry, f.map_value)) {
            Walk(er->GetMessage(entry, f.map_value), *f.message, path, out, depth + 1);
          }
        }
        break;
      }
    }
    path->Pop();
  }
}

// ---- the same over serialized bytes, for messages protobuf refused to parse ----

// Reads the length-delimited fields of `wire`; `visit(field, bytes, index)` gets those
// `type` declares as string or message (index: the occurrence of a repeated field).
// False when the bytes end early or are malformed.
template <typename Visit>
bool ForEachDelimited(std::string_view wire, const Descriptor* type, Visit visit) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  absl::flat_hash_map<int, int> occurrences;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return true;
    const FieldDescriptor* field = type->FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        field == nullptr ||
        (field->type() != FieldDescriptor::TYPE_STRING &&
         field->type() != FieldDescriptor::TYPE_MESSAGE)) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    uint32_t length = 0;
    std::string bytes;
    if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) {
      return false;
    }
    visit(field, bytes, occurrences[field->number()]++);
  }
}

// A map entry's key as a path suffix, read from its bytes.
std::string SerializedKeySuffix(std::string_view entry, const FieldDescriptor* key) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(entry.data()),
                                            static_cast<int>(entry.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) != key->number()) {
      if (!WireFormatLite::SkipField(&in, tag)) break;
      continue;
    }
    uint64_t value = 0;
    switch (key->type()) {
      case FieldDescriptor::TYPE_STRING: {
        uint32_t length = 0;
        std::string bytes;
        if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) {
          return "[]";
        }
        return StringKeySuffix(bytes);
      }
      case FieldDescriptor::TYPE_SINT32:
      case FieldDescriptor::TYPE_SINT64:
        if (!in.ReadVarint64(&value)) return "[]";
        return absl::StrCat("[", WireFormatLite::ZigZagDecode64(value), "]");
      case FieldDescriptor::TYPE_BOOL:
        if (!in.ReadVarint64(&value)) return "[]";
        return value != 0 ? "[true]" : "[false]";
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_INT64:
        if (!in.ReadVarint64(&value)) return "[]";
        return absl::StrCat("[", static_cast<int64_t>(value), "]");
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_UINT64:
        if (!in.ReadVarint64(&value)) return "[]";
        return absl::StrCat("[", value, "]");
      default:  // fixed-width keys: named by position only
        return "[]";
    }
  }
  return key->type() == FieldDescriptor::TYPE_STRING ? "[\"\"]" : "[0]";
}

// `judged_base`: added to the index of a root field's elements that the service judges
// one by one (they are numbered across a client stream).
void WalkSerialized(std::string_view wire, const Descriptor* type, const std::string& prefix,
                    Violations* out, int depth, size_t judged_base = 0) {
  if (depth > kMaxDepth) return;
  ForEachDelimited(
      wire, type, [&](const FieldDescriptor* field, const std::string& bytes, int index) {
        std::string path =
            prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
        if (field->is_map()) {
          const FieldDescriptor* key = field->message_type()->map_key();
          const FieldDescriptor* value = field->message_type()->map_value();
          ForEachDelimited(bytes, field->message_type(),
                           [&](const FieldDescriptor* part, const std::string& part_bytes, int) {
                             if (part == key) {
                               if (auto why = TextViolation(part_bytes, kKeyRule)) {
                                 out->Add(path, absl::StrCat("a key ", *why));
                               }
                               return;
                             }
                             const std::string entry_path = path + SerializedKeySuffix(bytes, key);
                             if (value->type() == FieldDescriptor::TYPE_STRING) {
                               CheckString(
                                   part_bytes, RuleOf(field), [&] { return entry_path; }, out);
                             } else {
                               WalkSerialized(part_bytes, value->message_type(), entry_path, out,
                                              depth + 1);
                             }
                           });
          return;
        }
        if (field->is_repeated()) {
          const bool judged = depth == 0 && contract::ElementsJudgedByService(field);
          path = Indexed(path, static_cast<size_t>(index) + (judged ? judged_base : 0));
        }
        if (field->type() == FieldDescriptor::TYPE_STRING) {
          CheckString(
              bytes, RuleOf(field), [&] { return path; }, out);
        } else {
          WalkSerialized(bytes, field->message_type(), path, out, depth + 1);
        }
      });
}

}  // namespace

TextRule RuleOf(const FieldDescriptor* field) {
  const api::v1::TextRule& declared = contract::TextRuleOf(field);
  TextRule rule;
  switch (declared.kind()) {
    case api::v1::TEXT_KIND_MULTI_LINE:
      rule.kind = TextKind::kMultiLine;
      break;
    case api::v1::TEXT_KIND_CODE:
      rule.kind = TextKind::kCode;
      break;
    default:  // unspecified, single line, or a kind newer than this server: the base rule
      rule.kind = TextKind::kSingleLine;
      break;
  }
  rule.max_chars = declared.max_chars() > 0 ? declared.max_chars() : 0;
  rule.no_blanks_around = declared.no_blanks_around();
  return rule;
}

namespace {

void AddValueViolations(const Message& request, Violations* out) {
  const MessagePlan& plan = Plans().For(request.GetDescriptor());
  if (plan.fields.empty()) return;
  Path path;
  // An update's text rules judge what it reads: a client sends the resource back as it
  // read it (AIP-134), values stored before a rule existed included, in fields the update
  // neither reads nor changes (outside testing: a defect's model stored with a trailing
  // blank refused every update of its description).
  if (plan.update) {
    std::unique_ptr<Message> update(request.New());
    update->CopyFrom(request);
    ClearWhatAnUpdateIgnores(update.get());
    Walk(*update, plan, &path, out, 0);
  } else {
    Walk(request, plan, &path, out, 0);
  }
}

}  // namespace

// What an update (a request with a root update_mask) ignores, cleared from `request`: in
// its resource, the fields its mask does not name (AIP-134) and the output-only ones
// (AIP-203), except what names the resource. A client that reads the resource again
// before it retries sends them changed, and the retry is the same call.
void ClearWhatAnUpdateIgnores(Message* request) {
  const google::protobuf::Descriptor* type = request->GetDescriptor();
  const google::protobuf::FieldDescriptor* mask_field = contract::UpdateMaskOf(type);
  if (mask_field == nullptr) return;
  const google::protobuf::Reflection* reflection = request->GetReflection();
  const std::set<std::string> named = contract::FieldsTheMaskNames(*request);
  for (int i = 0; i < type->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* root = type->field(i);
    if (root == mask_field || root->is_repeated() || root->message_type() == nullptr ||
        !reflection->HasField(*request, root)) {
      continue;
    }
    google::protobuf::Message* resource = reflection->MutableMessage(request, root);
    const google::protobuf::Descriptor* resource_type = resource->GetDescriptor();
    for (int j = 0; j < resource_type->field_count(); ++j) {
      const google::protobuf::FieldDescriptor* field = resource_type->field(j);
      const contract::FieldUse use = contract::FieldUseIn(type, {root, field});
      if (use == contract::FieldUse::kOutputOnly ||
          (use != contract::FieldUse::kRequired && named.count(field->name()) == 0)) {
        resource->GetReflection()->ClearField(resource, field);
      }
    }
  }
}

absl::Status CheckRequestValues(const Message& request) {
  Violations out;
  AddValueViolations(request, &out);
  return out.ToStatus();
}

namespace {

// Whether a request of `type` can break a field behavior at all: it is an update
// (update_mask), or some field it can reach declares REQUIRED, IDENTIFIER or
// OUTPUT_ONLY. Most requests that cannot (WhoAmI's, many reads') then skip the walk,
// which builds a path string per field. Worked out once per type.
bool MayBreakFieldBehavior(const Descriptor* type) {
  static absl::Mutex mutex(absl::kConstInit);
  static auto* known = new absl::flat_hash_map<const Descriptor*, bool>();
  {
    absl::ReaderMutexLock lock(&mutex);
    auto it = known->find(type);
    if (it != known->end()) return it->second;
  }
  bool may_lack = contract::UpdateMaskOf(type) != nullptr;
  absl::flat_hash_map<const Descriptor*, bool> seen = {{type, true}};
  std::vector<const Descriptor*> pending = {type};
  while (!may_lack && !pending.empty()) {
    const Descriptor* next = pending.back();
    pending.pop_back();
    for (int i = 0; i < next->field_count() && !may_lack; ++i) {
      const FieldDescriptor* field = next->field(i);
      may_lack = contract::HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_REQUIRED) ||
                 contract::HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_IDENTIFIER) ||
                 contract::HasFieldBehavior(field, api::v1::FIELD_BEHAVIOR_OUTPUT_ONLY);
      const Descriptor* child = field->message_type();
      if (child != nullptr && seen.emplace(child, true).second) pending.push_back(child);
    }
  }
  absl::MutexLock lock(&mutex);
  known->emplace(type, may_lack);
  return may_lack;
}

void AddFieldBehaviorViolations(const Message& request, Violations* out_ptr) {
  Violations& out = *out_ptr;
  if (!MayBreakFieldBehavior(request.GetDescriptor())) return;
  // Only what a status lists is looked for: the walk stops after it.
  contract::FieldBehaviorFindings found =
      contract::CheckFieldBehavior(request, kMaxListedViolations);
  for (const contract::MissingField& field : found.missing) {
    out.Add(field.path, field.Description());
  }
  for (std::string& path : found.output_only_set) {
    out.Add(std::move(path), "output only: must be empty on create");
  }
  if (found.more) out.AddUncounted();
  // An update's mask names each field once (outside testing: UpdateMachine took a path
  // named twice while UpdateDefect refused it).
  if (const FieldDescriptor* mask_field = contract::UpdateMaskOf(request.GetDescriptor())) {
    const Message& mask = request.GetReflection()->GetMessage(request, mask_field);
    const FieldDescriptor* paths = mask.GetDescriptor()->FindFieldByName("paths");
    const Reflection* reflection = mask.GetReflection();
    // Per path named more than once (views into the request): how often, and the index of
    // its second naming, the entry refused; listed in the order of those entries.
    struct Repeated {
      const std::string* path;
      int times;
      int second_index;
    };
    std::vector<Repeated> named;
    absl::flat_hash_map<absl::string_view, size_t> position;
    for (int i = 0; paths != nullptr && i < reflection->FieldSize(mask, paths); ++i) {
      const std::string& path = reflection->GetRepeatedStringReference(mask, paths, i, nullptr);
      auto [it, first] = position.try_emplace(path, named.size());
      if (first) named.push_back({&path, 0, -1});
      Repeated& entry = named[it->second];
      if (++entry.times == 2) entry.second_index = i;
    }
    std::stable_sort(named.begin(), named.end(), [](const Repeated& a, const Repeated& b) {
      return a.second_index < b.second_index;
    });
    for (const Repeated& entry : named) {
      if (entry.times < 2) continue;
      out.Add(absl::StrCat(mask_field->name(), ".paths[", entry.second_index, "]"),
              absl::StrCat(QuoteForMessage(*entry.path), " is named ",
                           entry.times == 2 ? "twice" : absl::StrCat(entry.times, " times")));
    }
  }
}

}  // namespace

absl::Status CheckRequiredFields(const Message& request) {
  Violations out;
  AddFieldBehaviorViolations(request, &out);
  return out.ToStatus();
}

absl::Status CheckRequest(const Message& request) {
  // One answer naming every wrong field: broken text and missing fields alike (outside
  // testing: a request with a bad code was told about that alone, its missing required
  // fields only on the next try).
  Violations out;
  AddValueViolations(request, &out);
  // A field the text rules named is not named again (re-test: a blank required code was
  // both "not a code" and "required").
  Violations behavior;
  AddFieldBehaviorViolations(request, &behavior);
  out.AddUnnamed(behavior);
  return out.ToStatus();
}

absl::Status CheckSerializedText(std::string_view wire, const Descriptor* type,
                                 size_t judged_base) {
  Violations out;
  WalkSerialized(wire, type, "", &out, 0, judged_base);
  return out.ToStatus();
}

}  // namespace plantmesh::runtime
