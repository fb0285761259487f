#include "server/telemetry/domain.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/decimal_text.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/time_text.h"
#include "server/runtime/errors.h"
#include "server/runtime/text_rules.h"
#include "server/telemetry/machine_state.h"

namespace plantmesh::telemetry {
namespace {

std::string Field(int index, absl::string_view name) {
  return absl::StrCat("samples[", index, "].", name);
}

Rejection Reject(int index, RejectReason reason, std::string message) {
  return Rejection{index, reason, std::move(message)};
}

absl::string_view CategoryName(Category category) {
  switch (category) {
    case Category::kSample:
      return "SAMPLE";
    case Category::kEvent:
      return "EVENT";
    case Category::kCondition:
      return "CONDITION";
    default:
      return "UNSPECIFIED";
  }
}

absl::string_view KindField(ValueKind kind) {
  switch (kind) {
    case ValueKind::kNumber:
      return "number";
    case ValueKind::kText:
      return "text";
    case ValueKind::kCondition:
      return "condition";
    case ValueKind::kUnavailable:
      return "unavailable";
    case ValueKind::kWritten:
      return "written";
    default:
      return "value";
  }
}

bool KindFits(Category category, ValueKind kind) {
  if (kind == ValueKind::kUnavailable) return true;
  switch (category) {
    case Category::kSample:
      return kind == ValueKind::kNumber;
    case Category::kEvent:
      return kind == ValueKind::kNumber || kind == ValueKind::kText;
    case Category::kCondition:
      return kind == ValueKind::kCondition;
    default:
      return false;
  }
}

// The first text of the sample that breaks its rule, as "<field>: <why>".
std::optional<std::string> TextProblem(const Sample& s, int index) {
  if (!s.machine_id.empty() && !runtime::IsCode(s.machine_id)) {
    std::optional<std::string> why = runtime::TextViolation(
        s.machine_id, runtime::TextRule{runtime::TextKind::kCode, runtime::kMaxCodeChars});
    return absl::StrCat(Field(index, "machine_id"), ": ",
                        why.value_or(absl::StrCat("must be ", runtime::kCodePattern)));
  }
  if (s.machine_id.empty()) return absl::StrCat(Field(index, "machine_id"), ": required");
  if (std::string problem = DataItemIdProblem(s.data_item_id); !problem.empty()) {
    return absl::StrCat(Field(index, "data_item_id"), ": ", problem);
  }
  using runtime::TextKind;
  struct Text {
    absl::string_view name;
    const std::string* value;
    runtime::TextRule rule;
  };
  const Text texts[] = {
      {s.kind == ValueKind::kWritten ? "written" : "text",
       &s.text,
       {TextKind::kSingleLine, kMaxTextValueChars}},
      // A fault's key: `E42 ` would be another fault, never cleared by NORMAL `E42` (the
      // contract's no_blanks_around; outside testing, the machine stayed DOWN).
      {"condition.native_code", &s.native_code, {TextKind::kSingleLine, 64, true}},
      {"condition.message", &s.message, {TextKind::kSingleLine, kMaxTextValueChars}},
  };
  for (const Text& text : texts) {
    if (std::optional<std::string> why = runtime::TextViolation(*text.value, text.rule)) {
      return absl::StrCat(Field(index, text.name), ": ", *why);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string Machine::etag() const { return kMachineEtag.Of(version); }

std::string DataItemIdProblem(absl::string_view id) {
  if (IsDataItemId(id)) return "";
  if (id.empty()) return "required";
  // Re-test: `exec` and a no-break space was "must be 1-64 characters" of a value that
  // looked right, where RegisterMachine named the character.
  std::optional<std::string> why =
      runtime::TextViolation(std::string_view(id.data(), id.size()),
                             {runtime::TextKind::kSingleLine, kMaxDataItemIdChars, true});
  return why.value_or(absl::StrCat(runtime::QuoteForMessage(std::string_view(id.data(), id.size())),
                                   " ", kDataItemIdRule));
}

bool IsDataItemId(absl::string_view id) {
  if (id.empty() || id.size() > static_cast<size_t>(kMaxDataItemIdChars)) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
  });
}

// The category MTConnect gives each data item type the contract names (DataItemType's
// comments, by enum number); none for DATA_ITEM_TYPE_OTHER (the adapter's own type, any
// category).
std::optional<Category> CategoryOfType(int type) {
  if (type == 16) return Category::kCondition;            // SYSTEM
  if (type >= 5 && type <= 10) return Category::kSample;  // SPINDLE_SPEED .. PRESSURE
  if ((type >= 2 && type <= 4) || (type >= 11 && type <= 15)) return Category::kEvent;
  return std::nullopt;
}

void CheckMachine(const Machine& machine, const std::string& prefix,
                  const std::vector<bool>& type_known, runtime::Violations& violations) {
  if (machine.ideal_cycle_time && (*machine.ideal_cycle_time < absl::ZeroDuration() ||
                                   *machine.ideal_cycle_time > kMaxIdealCycleTime)) {
    violations.Add(absl::StrCat(prefix, "ideal_cycle_time"), "must be 0 s to 1 day");
  } else if (machine.ideal_cycle_time &&
             *machine.ideal_cycle_time % absl::Microseconds(1) != absl::ZeroDuration()) {
    // Stored in microseconds: a finer value would come back changed (outside testing:
    // 1 ns was stored as 0).
    violations.Add(absl::StrCat(prefix, "ideal_cycle_time"),
                   "must be a whole number of microseconds (nanos a multiple of 1000)");
  }
  if (machine.data_items.size() > static_cast<size_t>(kMaxDataItems)) {
    violations.Add(absl::StrCat(prefix, "data_items"),
                   absl::StrCat("at most ", kMaxDataItems, " data items (",
                                machine.data_items.size(), " given)"));
    return;
  }
  std::set<std::string> seen;
  // The first item of each type a machine's state is derived from: one is the state's
  // (outside testing: a two-path lathe's two EXECUTION items took turns, the newest of
  // either deciding, and its utilization was wrong without a word).
  std::map<int, size_t> state_item_at;
  for (size_t i = 0; i < machine.data_items.size(); ++i) {
    const DataItem& item = machine.data_items[i];
    const std::string at = absl::StrCat(prefix, "data_items[", i, "].");
    if (std::string problem = DataItemIdProblem(item.id); !problem.empty()) {
      violations.Add(at + "id", std::move(problem));
    } else if (!seen.insert(item.id).second) {
      violations.Add(at + "id",
                     absl::StrCat("duplicate data item id ", runtime::QuoteForMessage(item.id)));
    }
    if (item.category == Category::kUnspecified) {
      violations.Add(at + "category", "required: SAMPLE, EVENT or CONDITION");
    }
    if (item.type == 0) {
      violations.Add(at + "type", "required (DATA_ITEM_TYPE_OTHER for a type not listed)");
    } else if (i < type_known.size() && !type_known[i]) {
      violations.Add(at + "type", absl::StrCat("unknown data item type ", item.type));
    } else if (const std::optional<Category> expected = CategoryOfType(item.type);
               expected && item.category != Category::kUnspecified && item.category != *expected) {
      // Outside testing: a SAMPLE of type EXECUTION was taken; its state values (text)
      // could then never be sent, and the machine's states never derived.
      violations.Add(at + "category",
                     absl::StrCat("data items of this type are ", CategoryName(*expected),
                                  " in MTConnect, not ", CategoryName(item.category),
                                  " (DATA_ITEM_TYPE_OTHER takes any category)"));
    }
    if (item.type == kTypeExecution || item.type == kTypeAvailability ||
        item.type == kTypeEmergencyStop) {
      const auto [first, inserted] = state_item_at.try_emplace(item.type, i);
      if (!inserted) {
        violations.Add(at + "type",
                       absl::StrCat("a machine has one data item of this type (", prefix,
                                    "data_items[", first->second,
                                    "] is it): its state is derived from that one; give the "
                                    "others DATA_ITEM_TYPE_OTHER (e.g. each further path of a "
                                    "multi-path controller)"));
      }
    }
  }
}

absl::Status CheckUpdateMask(const std::vector<std::string>& paths) {
  runtime::Violations violations;
  runtime::CheckUpdatePaths(violations, paths, kUpdatableFields);
  return violations.ToStatus();
}

absl::StatusOr<Machine> ApplyMachineUpdate(const Machine& current, const Machine& patch,
                                           const std::vector<std::string>& paths,
                                           const std::string& etag, absl::Time now) {
  PM_RETURN_IF_ERROR(kMachineEtag.Check("etag", absl::StrCat("machine ", current.id),
                                        current.version, etag, /*required=*/false));
  PM_RETURN_IF_ERROR(CheckUpdateMask(paths));
  Machine after = current;
  for (const std::string& path : paths) {
    if (path == "display_name") after.display_name = patch.display_name;
    if (path == "line") after.line = patch.line;
    if (path == "zone") after.zone = patch.zone;
    if (path == "ideal_cycle_time") after.ideal_cycle_time = patch.ideal_cycle_time;
    if (path == "data_items") after.data_items = patch.data_items;
  }
  // What the machine has already: nothing changes, no version, no new etag (re-test: the
  // same display name made a new version, and holders of the old etag were refused).
  if (SameDescription(after, current)) return current;
  after.version = current.version + 1;
  after.update_time = now;
  return after;
}

bool SameDescription(const Machine& a, const Machine& b) {
  auto item_fields = [](const DataItem& i) {
    return std::tie(i.id, i.name, i.category, i.type, i.units, i.native_units);
  };
  return a.display_name == b.display_name && a.line == b.line && a.zone == b.zone &&
         a.ideal_cycle_time == b.ideal_cycle_time &&
         std::equal(a.data_items.begin(), a.data_items.end(), b.data_items.begin(),
                    b.data_items.end(), [&](const DataItem& x, const DataItem& y) {
                      return item_fields(x) == item_fields(y);
                    });
}

absl::StatusOr<MachineQuery> MakeMachineQuery(const std::string& line, const std::string& zone,
                                              int32_t page_size, const std::string& page_token) {
  runtime::Violations violations;
  MachineQuery query;
  query.line = line;
  query.zone = zone;
  query.page_size =
      runtime::PageSizeOr(violations, page_size, kDefaultMachinePageSize, kMaxMachinePageSize);
  if (!page_token.empty()) {
    runtime::FilterFingerprint fingerprint;
    fingerprint.AddText(line).AddText(zone);
    query.after =
        runtime::DecodePageToken(page_token, fingerprint.Hex(), "ListMachines", violations);
  }
  PM_RETURN_IF_ERROR(violations.ToStatus());
  return query;
}

std::string NextMachinePageToken(const MachineQuery& query, const Machine& last) {
  runtime::FilterFingerprint fingerprint;
  fingerprint.AddText(query.line).AddText(query.zone);
  return runtime::EncodePageToken(runtime::PageCursor{last.create_time, last.seq},
                                  fingerprint.Hex(), "ListMachines");
}

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnknownMachine:
      return "UNKNOWN_MACHINE";
    case RejectReason::kUnknownDataItem:
      return "UNKNOWN_DATA_ITEM";
    case RejectReason::kWrongValueKind:
      return "WRONG_VALUE_KIND";
    case RejectReason::kNotFinite:
      return "NOT_FINITE";
    case RejectReason::kNumberOutOfRange:
      return "NUMBER_OUT_OF_RANGE";
    case RejectReason::kTimeInFuture:
      return "TIME_IN_FUTURE";
    case RejectReason::kTimeOutOfRange:
      return "TIME_OUT_OF_RANGE";
    case RejectReason::kInvalidText:
      return "INVALID_TEXT";
    default:
      return "UNSPECIFIED";
  }
}

absl::string_view MatchedText(absl::string_view text) {
  const std::string_view trimmed =
      common::TrimInvisible(std::string_view(text.data(), text.size()));
  return absl::string_view(trimmed.data(), trimmed.size());
}

PartCountText ParsePartCountText(absl::string_view text, double* count) {
  text = MatchedText(text);
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    return PartCountText::kNotACount;
  }
  // More than 16 digits, leading zeros aside, is above 2^53 (16 digits) whatever they
  // are, and might not fit 64 bits.
  const size_t first = std::min(text.find_first_not_of('0'), text.size());
  uint64_t value = 0;
  if (text.size() - first > 16 || !absl::SimpleAtoi(text, &value) ||
      value > static_cast<uint64_t>(kMaxPartCount)) {
    return PartCountText::kTooLarge;
  }
  *count = static_cast<double>(value);
  return PartCountText::kCount;
}

// A PART_COUNT sample is a count, as GetUtilization reads it (PartCountObservationOf):
// a whole number 0..2^53, given as a number or as decimal digits, or Unavailable.
// Outside testing: negative, fractional and huge counts were stored and then silently
// left out of part_count; text was read as a double, so 9007199254740993 became 2^53.
namespace {
std::optional<Rejection> PartCountProblem(const Sample& s, int index) {
  constexpr char kRule[] = "a PART_COUNT is a whole number 0..9007199254740992 (2^53)";
  if (s.kind == ValueKind::kText) {
    if (absl::EqualsIgnoreCase(MatchedText(s.text), "UNAVAILABLE")) {
      return std::nullopt;
    }
    double count = 0;
    switch (ParsePartCountText(s.text, &count)) {
      case PartCountText::kCount:
        return std::nullopt;
      case PartCountText::kTooLarge:
        return Reject(index, RejectReason::kNumberOutOfRange,
                      absl::StrCat(Field(index, "text"), ": ", kRule, ", not ",
                                   runtime::QuoteForMessage(s.text)));
      case PartCountText::kNotACount:
        return Reject(index, RejectReason::kWrongValueKind,
                      absl::StrCat(Field(index, "text"), ": ", kRule, " in decimal digits, not ",
                                   runtime::QuoteForMessage(s.text)));
    }
  }
  if (s.kind != ValueKind::kNumber) return std::nullopt;
  if (s.number < 0 || s.number > kMaxPartCount || s.number != std::floor(s.number)) {
    // Every double in the digits it takes to tell it apart (2^53+2, not 9.0072e+15).
    return Reject(index, RejectReason::kNumberOutOfRange,
                  absl::StrCat(Field(index, "number"), ": ", kRule, ", not ",
                               runtime::NumberForMessage(s.number)));
  }
  return std::nullopt;
}

// The words a data item type's text takes (MTConnect's, matched without case and
// surrounding blanks; the text UNAVAILABLE and the unavailable value besides), with the
// type's name for messages; nullopt for types that take any value. EXECUTION,
// AVAILABILITY and EMERGENCY_STOP decide the machine's state (machine_state.h); outside
// testing, EXECUTION `RUNNING`, an e-stop `PRESSED` and a CONTROLLER_MODE `AUTOMATC` were
// stored as sent.
struct Vocabulary {
  const char* name;
  const std::vector<absl::string_view>* words;
};
std::optional<Vocabulary> VocabularyOf(int type) {
  static const auto* const kModes = new std::vector<absl::string_view>{
      "AUTOMATIC", "MANUAL", "MANUAL_DATA_INPUT", "SEMI_AUTOMATIC", "EDIT"};
  switch (type) {
    case kTypeExecution:
      return Vocabulary{"an EXECUTION", &StateTextValues(StateInput::kExecution)};
    case kTypeAvailability:
      return Vocabulary{"an AVAILABILITY", &StateTextValues(StateInput::kAvailability)};
    case kTypeEmergencyStop:
      return Vocabulary{"an EMERGENCY_STOP", &StateTextValues(StateInput::kEmergencyStop)};
    case kTypeControllerMode:
      return Vocabulary{"a CONTROLLER_MODE", kModes};
    default:
      return std::nullopt;
  }
}

// A sample of a type with a vocabulary (VocabularyOf), or of a DIGITAL_INPUT or
// DIGITAL_OUTPUT (0 or 1: a number, or the digit as text), that is none of its values.
std::optional<Rejection> TypedValueProblem(const Sample& s, int index, int type) {
  const bool digital = type == kTypeDigitalInput || type == kTypeDigitalOutput;
  const std::optional<Vocabulary> vocabulary = VocabularyOf(type);
  if ((!digital && !vocabulary) || s.kind == ValueKind::kUnavailable) return std::nullopt;
  const bool text = s.kind == ValueKind::kText;
  const absl::string_view matched = text ? MatchedText(s.text) : absl::string_view();
  if (text && absl::EqualsIgnoreCase(matched, "UNAVAILABLE")) return std::nullopt;
  const std::string given =
      text ? runtime::QuoteForMessage(s.text) : runtime::NumberForMessage(s.number);
  const std::string field = Field(index, text ? "text" : KindField(s.kind));
  if (digital) {
    if ((text && (matched == "0" || matched == "1")) ||
        (s.kind == ValueKind::kNumber && (s.number == 0 || s.number == 1))) {
      return std::nullopt;
    }
    return Reject(
        index, RejectReason::kWrongValueKind,
        absl::StrCat(field, ": a ", type == kTypeDigitalInput ? "DIGITAL_INPUT" : "DIGITAL_OUTPUT",
                     " is 0 or 1 (or the unavailable value), not ", given));
  }
  for (absl::string_view word : *vocabulary->words) {
    if (text && absl::EqualsIgnoreCase(matched, word)) return std::nullopt;
  }
  return Reject(
      index, RejectReason::kWrongValueKind,
      absl::StrCat(field, ": ", vocabulary->name, " is one of ",
                   absl::StrJoin(*vocabulary->words, ", "),
                   " (in any case) or the unavailable value, not ", text ? given : "a number"));
}

// An accepted text that names a value, stored in one spelling per value (outside testing:
// nine spellings of AUTOMATIC were stored as nine modes, and a digit or count sent as
// text was left out of QueryAggregates, which reads numbers): the text UNAVAILABLE of any
// item as the unavailable value, a word of a vocabulary as the contract lists it, a
// DIGITAL_INPUT or DIGITAL_OUTPUT digit and a PART_COUNT as the number.
void CanonicalizeText(Sample* s, int type) {
  const absl::string_view matched = MatchedText(s->text);
  // MTConnect reserves UNAVAILABLE for "no data" in every data item: the value of its own
  // (re-test: it was stored as the value or as text, whichever was sent, and a PART_COUNT
  // read as a string beside numbers).
  if (absl::EqualsIgnoreCase(matched, "UNAVAILABLE")) {
    s->kind = ValueKind::kUnavailable;
    s->text.clear();
    return;
  }
  const bool digital = type == kTypeDigitalInput || type == kTypeDigitalOutput;
  const bool count = type == kTypePartCount;
  const std::optional<Vocabulary> vocabulary = VocabularyOf(type);
  if (!digital && !count && !vocabulary) return;
  double number = 0;
  if (digital || (count && ParsePartCountText(s->text, &number) == PartCountText::kCount)) {
    s->kind = ValueKind::kNumber;
    s->number = digital ? (matched == "1" ? 1 : 0) : number;
    s->text.clear();
    return;
  }
  if (!vocabulary) return;
  for (absl::string_view word : *vocabulary->words) {
    if (absl::EqualsIgnoreCase(matched, word)) {
      s->text = std::string(word);
      return;
    }
  }
}

// SHDR adapters send "no data" as the text UNAVAILABLE; where a text is not taken, say
// what to send instead (outside testing: the refusal did not).
std::string UnavailableAsTextHint(const Sample& s) {
  if (s.kind != ValueKind::kText || !absl::EqualsIgnoreCase(MatchedText(s.text), "UNAVAILABLE")) {
    return "";
  }
  return "; for \"no data\" send the unavailable value (Sample.unavailable, MTConnect "
         "UNAVAILABLE), not the text";
}

}  // namespace

namespace {

// JudgeSample, and (`*type`) the data item's type once the item is found: the batch's
// judge stores an accepted text by it without a second lookup.
std::optional<Rejection> JudgeReadSample(Sample& s, int index, const Catalog& catalog,
                                         absl::Time now, const IngestLimits& limits, int* type) {
  if (std::optional<std::string> problem = TextProblem(s, index)) {
    return Reject(index, RejectReason::kInvalidText, *std::move(problem));
  }
  auto machine = catalog.find(s.machine_id);
  if (machine == catalog.end()) {
    return Reject(
        index, RejectReason::kUnknownMachine,
        absl::StrCat(Field(index, "machine_id"), ": no machine ", s.machine_id, " is registered"));
  }
  auto item = machine->second.find(s.data_item_id);
  if (item == machine->second.end()) {
    return Reject(index, RejectReason::kUnknownDataItem,
                  absl::StrCat(Field(index, "data_item_id"), ": machine ", s.machine_id,
                               " has no data item ", runtime::QuoteForMessage(s.data_item_id)));
  }
  if (s.time_malformed) {
    return Reject(index, RejectReason::kTimeOutOfRange,
                  absl::StrCat(Field(index, "time"), ": ", s.time_violation));
  }
  if (!s.time) {
    return Reject(index, RejectReason::kTimeOutOfRange,
                  absl::StrCat(Field(index, "time"), ": required"));
  }
  if (*s.time < now - limits.retention) {
    return Reject(index, RejectReason::kTimeOutOfRange,
                  absl::StrCat(Field(index, "time"), ": ", Rfc3339Utc(*s.time),
                               " is older than the retention period (",
                               absl::FormatDuration(limits.retention), ")"));
  }
  if (*s.time > now + limits.max_future_skew) {
    return Reject(
        index, RejectReason::kTimeInFuture,
        absl::StrCat(Field(index, "time"), ": ", Rfc3339Utc(*s.time), " is more than ",
                     absl::FormatDuration(limits.max_future_skew), " ahead of the server's clock"));
  }
  if (s.kind == ValueKind::kWritten) {
    const std::string written = s.text;
    if (std::optional<WrittenProblem> problem = ReadWritten(item->second.category, &s)) {
      return Reject(index, problem->reason,
                    absl::StrCat(Field(index, "written"), ": ", runtime::QuoteForMessage(written),
                                 " ", problem->why, " (data item ", s.data_item_id, " is a ",
                                 CategoryName(item->second.category), ")"));
    }
    // What it was read as keeps the input rules too (a condition's native code).
    if (std::optional<std::string> problem = TextProblem(s, index)) {
      return Reject(index, RejectReason::kInvalidText, *std::move(problem));
    }
  }
  if (!KindFits(item->second.category, s.kind)) {
    return Reject(index, RejectReason::kWrongValueKind,
                  s.kind == ValueKind::kNone
                      ? absl::StrCat(Field(index, "value"), ": required")
                      : absl::StrCat(Field(index, KindField(s.kind)), ": data item ",
                                     s.data_item_id, " is a ", CategoryName(item->second.category),
                                     ", which does not take a ", KindField(s.kind),
                                     UnavailableAsTextHint(s)));
  }
  if (s.kind == ValueKind::kCondition && (s.condition_level < 1 || s.condition_level > 3)) {
    return Reject(index, RejectReason::kWrongValueKind,
                  absl::StrCat(Field(index, "condition.level"), ": ",
                               s.condition_level == 0 ? "unset" : absl::StrCat(s.condition_level),
                               "; a condition is NORMAL, WARNING or FAULT"));
  }
  if (s.kind == ValueKind::kNumber && !std::isfinite(s.number)) {
    return Reject(index, RejectReason::kNotFinite,
                  absl::StrCat(Field(index, "number"), ": ",
                               std::isnan(s.number) ? "NaN" : "infinity", " is not a value"));
  }
  if (s.kind == ValueKind::kNumber && std::abs(s.number) > kMaxSampleMagnitude) {
    return Reject(index, RejectReason::kNumberOutOfRange,
                  absl::StrCat(Field(index, "number"),
                               ": magnitude above 1e297 (aggregates of such values would "
                               "overflow)"));
  }
  *type = item->second.type;
  if (item->second.type == kTypePartCount) return PartCountProblem(s, index);
  return TypedValueProblem(s, index, item->second.type);
}

// A written sample's rejection names the field the client sent, `written`, not the one it
// was read as (re-test: `samples[3].text: an EXECUTION is one of ...` for a client that
// sent no text).
std::optional<Rejection> JudgeSampleOfType(Sample& s, int index, const Catalog& catalog,
                                           absl::Time now, const IngestLimits& limits, int* type) {
  const bool written = s.kind == ValueKind::kWritten;
  std::optional<Rejection> rejection = JudgeReadSample(s, index, catalog, now, limits, type);
  if (!written || !rejection) return rejection;
  for (absl::string_view field : {"text", "number", "condition.native_code", "condition.message",
                                  "condition.level", "condition", "value"}) {
    const std::string named = absl::StrCat(Field(index, field), ": ");
    if (absl::StartsWith(rejection->message, named)) {
      rejection->message =
          absl::StrCat(Field(index, "written"), ": ", rejection->message.substr(named.size()));
      break;
    }
  }
  return rejection;
}

}  // namespace

std::optional<Rejection> JudgeSample(const Sample& s, int index, const Catalog& catalog,
                                     absl::Time now, const IngestLimits& limits) {
  int type = 0;
  Sample read = s;
  return JudgeSampleOfType(read, index, catalog, now, limits, &type);
}

std::optional<WrittenProblem> ReadWritten(Category category, Sample* s) {
  // Blanks around are no part of a number, a word or a condition (MatchedText: also the
  // characters that show nothing, as around PART_COUNT's digits); an EVENT keeps them.
  const absl::string_view stripped = MatchedText(s->text);
  if (absl::EqualsIgnoreCase(stripped, "UNAVAILABLE")) {
    s->kind = ValueKind::kUnavailable;
    s->text.clear();
    return std::nullopt;
  }
  switch (category) {
    case Category::kSample: {
      const std::optional<double> number = common::ParseDecimal(stripped);
      if (!number) {
        // A number beyond a double's range (or one that would read as 0) is out of range,
        // as a number above 1e297 is (re-test: `1e400` and `1e298` had two reasons).
        return WrittenProblem{common::BeyondADouble(stripped) ? RejectReason::kNumberOutOfRange
                                                              : RejectReason::kWrongValueKind,
                              common::NotDecimalReason(stripped)};
      }
      s->kind = ValueKind::kNumber;
      s->number = *number;
      s->text.clear();
      return std::nullopt;
    }
    case Category::kEvent:
      s->kind = ValueKind::kText;  // as written
      return std::nullopt;
    case Category::kCondition: {
      // (An empty or blank value splits into no part at all: re-test, the server crashed.)
      const std::vector<absl::string_view> parts =
          absl::StrSplit(stripped, absl::MaxSplits(':', 2));
      const std::string level = parts.empty()
                                    ? std::string()
                                    : absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
      int number = 0;
      if (level == "normal") number = 1;
      if (level == "warning") number = 2;
      if (level == "fault") number = 3;
      if (number == 0) {
        return WrittenProblem{RejectReason::kWrongValueKind,
                              "is not a condition (LEVEL[:NATIVE_CODE[:MESSAGE]], LEVEL "
                              "normal, warning or fault)"};
      }
      s->kind = ValueKind::kCondition;
      s->condition_level = number;
      s->native_code = parts.size() > 1 ? std::string(parts[1]) : "";
      s->message = parts.size() > 2 ? std::string(parts[2]) : "";
      s->text.clear();
      return std::nullopt;
    }
    default:
      return WrittenProblem{RejectReason::kWrongValueKind,
                            "cannot be read: the data item has no category"};
  }
}

Verdict JudgeBatch(std::vector<Sample>& samples, const Catalog& catalog, absl::Time now,
                   const IngestLimits& limits) {
  Verdict verdict;
  verdict.accepted.reserve(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    int type = 0;
    std::optional<Rejection> rejection =
        JudgeSampleOfType(samples[i], static_cast<int>(i), catalog, now, limits, &type);
    if (rejection) {
      verdict.rejected.push_back(*std::move(rejection));
      continue;
    }
    verdict.accepted.push_back(static_cast<int>(i));
    if (samples[i].kind == ValueKind::kText) CanonicalizeText(&samples[i], type);
  }
  return verdict;
}

absl::Status CheckBatchFrame(const std::string& writer_id, uint64_t batch_sequence,
                             size_t sample_count) {
  runtime::Violations violations;
  runtime::RequireText(violations, "writer_id", writer_id);
  if (batch_sequence == 0) violations.Add("batch_sequence", "required: from 1");
  if (batch_sequence > static_cast<uint64_t>(INT64_MAX)) {
    violations.Add("batch_sequence", "at most 9223372036854775807");
  }
  if (sample_count == 0 || sample_count > static_cast<size_t>(kMaxSamplesPerBatch)) {
    violations.Add("samples", absl::StrCat("1 to ", kMaxSamplesPerBatch, " samples per batch (",
                                           sample_count, " given)"));
  }
  return violations.ToStatus();
}

std::vector<int> NewestPerDataItem(const std::vector<Sample>& samples,
                                   const std::vector<int>& accepted) {
  std::map<std::pair<absl::string_view, absl::string_view>, int> newest;
  for (int i : accepted) {
    const Sample& s = samples[static_cast<size_t>(i)];
    auto [it, inserted] = newest.try_emplace({s.machine_id, s.data_item_id}, i);
    if (!inserted && *samples[static_cast<size_t>(it->second)].time <= *s.time) it->second = i;
  }
  std::vector<int> out;
  out.reserve(newest.size());
  for (const auto& entry : newest) out.push_back(entry.second);
  return out;
}

absl::StatusOr<SampleQuery> MakeSampleQuery(const std::string& machine_id,
                                            std::vector<std::string> data_item_ids,
                                            std::optional<absl::Time> start_time,
                                            std::optional<absl::Time> end_time, int32_t page_size,
                                            const std::string& page_token) {
  runtime::Violations violations;
  SampleQuery query;
  query.machine_id = machine_id;
  if (machine_id.empty()) violations.Add("machine_id", "required");
  CheckDataItemIdFilter(data_item_ids, "data_item_ids", violations);
  std::sort(data_item_ids.begin(), data_item_ids.end());
  data_item_ids.erase(std::unique(data_item_ids.begin(), data_item_ids.end()), data_item_ids.end());
  query.data_item_ids = std::move(data_item_ids);
  if (!start_time) violations.Add("start_time", "required");
  if (!end_time) violations.Add("end_time", "required");
  if (start_time && end_time && *end_time <= *start_time) {
    violations.Add("end_time", "must be after start_time");
  }
  query.start_time = start_time.value_or(absl::UnixEpoch());
  query.end_time = end_time.value_or(absl::UnixEpoch());
  const bool filter_sound = violations.empty();
  query.page_size =
      runtime::PageSizeOr(violations, page_size, kDefaultSamplePageSize, kMaxSamplePageSize);
  if (!page_token.empty()) {
    runtime::FilterFingerprint fingerprint;
    fingerprint.AddText(machine_id)
        .AddText(absl::StrJoin(query.data_item_ids, ","))
        .AddTime(query.start_time)
        .AddTime(query.end_time);
    query.after = runtime::DecodePageToken(page_token, filter_sound ? fingerprint.Hex() : "",
                                           "QuerySamples", violations);
  }
  PM_RETURN_IF_ERROR(violations.ToStatus());
  return query;
}

std::string NextSamplePageToken(const SampleQuery& query, const StoredSample& last) {
  runtime::FilterFingerprint fingerprint;
  fingerprint.AddText(query.machine_id)
      .AddText(absl::StrJoin(query.data_item_ids, ","))
      .AddTime(query.start_time)
      .AddTime(query.end_time);
  return runtime::EncodePageToken(runtime::PageCursor{*last.sample.time, last.key},
                                  fingerprint.Hex(), "QuerySamples");
}

absl::Status MachineNotFound(const std::string& machine_id) {
  return runtime::WithErrorInfo(
      absl::NotFoundError(absl::StrCat("no machine ", machine_id, " is registered")),
      "MACHINE_NOT_FOUND", {{"machine_id", machine_id}});
}

absl::Status DowntimeNotFound(int64_t downtime_id) {
  return runtime::WithErrorInfo(absl::NotFoundError(absl::StrCat("no downtime ", downtime_id)),
                                "DOWNTIME_NOT_FOUND", {{"downtime_id", absl::StrCat(downtime_id)}});
}

absl::Status DataItemNotFound(const std::string& data_item_id,
                              const std::vector<std::string>& machine_ids) {
  const std::string where =
      machine_ids.size() == 1 ? absl::StrCat("machine ", machine_ids.front())
                              : absl::StrCat("any of the ", machine_ids.size(), " machines named");
  return runtime::WithErrorInfo(
      absl::NotFoundError(absl::StrCat("no data item ", runtime::QuoteForMessage(data_item_id),
                                       " is registered on ", where)),
      "DATA_ITEM_NOT_FOUND", {{"data_item_id", data_item_id}});
}

void CheckDataItemIdFilter(const std::vector<std::string>& data_item_ids, absl::string_view field,
                           runtime::Violations& violations) {
  // A machine has at most kMaxDataItems: a longer filter only costs (outside testing: 60,000
  // ids took 5 s of PostgreSQL a call).
  if (data_item_ids.size() > static_cast<size_t>(kMaxDataItems)) {
    violations.Add(std::string(field),
                   absl::StrCat("at most ", kMaxDataItems, " ids, a machine's most (",
                                data_item_ids.size(), " given)"));
    return;
  }
  for (size_t i = 0; i < data_item_ids.size(); ++i) {
    if (std::string problem = DataItemIdProblem(data_item_ids[i]); !problem.empty()) {
      violations.Add(absl::StrCat(field, "[", i, "]"), std::move(problem));
    }
  }
}

absl::Status CheckLatestSelection(const std::vector<std::string>& machine_ids,
                                  const std::vector<std::string>& data_item_ids) {
  runtime::Violations violations;
  if (machine_ids.empty()) violations.Add("machine_ids", "required: 1 to 500 ids");
  if (machine_ids.size() > static_cast<size_t>(kMaxLatestMachines)) {
    violations.Add("machine_ids", absl::StrCat("at most ", kMaxLatestMachines, " ids (",
                                               machine_ids.size(), " given)"));
  }
  CheckDataItemIdFilter(data_item_ids, "data_item_ids", violations);
  return violations.ToStatus();
}

namespace {

void SortUnique(std::vector<std::string>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

// Machine ids are codes and data item ids have their pattern: neither holds ','.
std::string LatestFingerprint(const LatestQuery& query) {
  runtime::FilterFingerprint fingerprint;
  fingerprint.AddText(absl::StrJoin(query.machine_ids, ","))
      .AddText(absl::StrJoin(query.data_item_ids, ","));
  return fingerprint.Hex();
}

}  // namespace

absl::StatusOr<LatestQuery> MakeLatestQuery(std::vector<std::string> machine_ids,
                                            std::vector<std::string> data_item_ids,
                                            int32_t page_size, const std::string& page_token) {
  // The selection's faults, the page size's and the token's in one answer; the token
  // matched to the selection only once the selection is sound.
  runtime::Violations violations;
  PM_RETURN_IF_ERROR(violations.Take(CheckLatestSelection(machine_ids, data_item_ids)));
  const bool selection_sound = violations.empty();
  LatestQuery query;
  SortUnique(machine_ids);
  SortUnique(data_item_ids);
  query.machine_ids = std::move(machine_ids);
  query.data_item_ids = std::move(data_item_ids);
  query.page_size = runtime::PageSizeOr(violations, page_size, 0, kMaxLatestPageSize);
  if (!page_token.empty()) {
    std::optional<std::vector<std::string>> key =
        runtime::DecodeKeyPageToken(page_token, 2, selection_sound ? LatestFingerprint(query) : "",
                                    "GetLatestValues", violations);
    if (key) query.after = std::make_pair((*key)[0], (*key)[1]);
  }
  PM_RETURN_IF_ERROR(violations.ToStatus());
  return query;
}

std::string NextLatestPageToken(const LatestQuery& query, const Sample& last) {
  return runtime::EncodeKeyPageToken({last.machine_id, last.data_item_id}, LatestFingerprint(query),
                                     "GetLatestValues");
}

absl::Time DayStart(absl::Time t) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  int64_t day = seconds / 86400;
  if (seconds % 86400 < 0) --day;
  return absl::FromUnixSeconds(day * 86400);
}

std::vector<absl::Time> DaysToKeep(absl::Time now, absl::Duration retention, int ahead_days) {
  std::vector<absl::Time> days;
  const absl::Time last = DayStart(now) + absl::Hours(24) * ahead_days;
  for (absl::Time day = DayStart(now - retention); day <= last; day += absl::Hours(24)) {
    days.push_back(day);
  }
  return days;
}

bool DayExpired(absl::Time day, absl::Time now, absl::Duration retention) {
  return day + absl::Hours(24) <= now - retention;
}

std::string PartitionName(absl::Time day) {
  return absl::StrCat("samples_", absl::FormatTime("%Y%m%d", day, absl::UTCTimeZone()));
}

std::optional<absl::Time> DayOfPartition(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "samples_") || name.size() != 8) return std::nullopt;
  int year = 0;
  int month = 0;
  int day = 0;
  if (!absl::SimpleAtoi(name.substr(0, 4), &year) || !absl::SimpleAtoi(name.substr(4, 2), &month) ||
      !absl::SimpleAtoi(name.substr(6, 2), &day)) {
    return std::nullopt;
  }
  const absl::Time t = absl::FromCivil(absl::CivilDay(year, month, day), absl::UTCTimeZone());
  // A date that does not exist (20230231) normalises to another: refuse it.
  if (PartitionName(t) != absl::StrCat("samples_", name)) return std::nullopt;
  return t;
}

}  // namespace plantmesh::telemetry
