#include "server/telemetry/tracker_state_codec.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace plantmesh::telemetry {
namespace {

using Json = nlohmann::json;

constexpr int kVersion = 1;

Json EncodeTime(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

absl::Status Bad(absl::string_view part, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("tracker state: ", part, " ", why));
}

absl::StatusOr<absl::Time> DecodeTime(const Json& j, absl::string_view part) {
  if (!j.is_string()) return Bad(part, "is not a time");
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, j.get<std::string>(), absl::UTCTimeZone(), &t, &error) ||
      t == absl::InfiniteFuture()) {
    return Bad(part, "is not a time");
  }
  return t;
}

absl::StatusOr<int> DecodeEnum(const Json& j, absl::string_view part, int max) {
  if (!j.is_number_integer()) return Bad(part, "is not a number");
  const int64_t n = j.get<int64_t>();
  if (n < 0 || n > max) return Bad(part, "is out of range");
  return static_cast<int>(n);
}

// A [number, time] pair.
absl::Status DecodePair(const Json& j, absl::string_view part, int max, int* n, absl::Time* t) {
  if (!j.is_array() || j.size() != 2) return Bad(part, "is not a [value, time] pair");
  absl::StatusOr<int> value = DecodeEnum(j[0], part, max);
  if (!value.ok()) return value.status();
  absl::StatusOr<absl::Time> time = DecodeTime(j[1], part);
  if (!time.ok()) return time.status();
  *n = *value;
  *t = *time;
  return absl::OkStatus();
}

// An observed value as a tagged array: ["t", text], ["n", number], ["c", level, code] or
// ["u"] (Unavailable).
Json EncodeValue(const ObservedValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return Json::array({"t", *text});
  if (const auto* number = std::get_if<double>(&value)) {
    // JSON has no NaN or infinity (ingest refuses them); the tracker reads any number as
    // it reads Unavailable.
    if (!std::isfinite(*number)) return Json::array({"u"});
    return Json::array({"n", *number});
  }
  if (const auto* condition = std::get_if<ConditionValue>(&value)) {
    return Json::array({"c", static_cast<int>(condition->level), condition->native_code});
  }
  return Json::array({"u"});
}

absl::StatusOr<ObservedValue> DecodeValue(const Json& j) {
  if (!j.is_array() || j.empty() || !j[0].is_string()) return Bad("held", "has a malformed value");
  const std::string tag = j[0].get<std::string>();
  if (tag == "t" && j.size() == 2 && j[1].is_string()) return j[1].get<std::string>();
  if (tag == "n" && j.size() == 2 && j[1].is_number()) return j[1].get<double>();
  if (tag == "c" && j.size() == 3 && j[2].is_string()) {
    absl::StatusOr<int> level = DecodeEnum(j[1], "held", static_cast<int>(ConditionLevel::kFault));
    if (!level.ok()) return level.status();
    return ConditionValue{static_cast<ConditionLevel>(*level), j[2].get<std::string>()};
  }
  if (tag == "u" && j.size() == 1) return UnavailableValue{};
  return Bad("held", "has a malformed value");
}

// A held observation: [input, data item, time, value] and the ahead time when set.
Json EncodeObservation(const StateObservation& o) {
  Json j = Json::array(
      {static_cast<int>(o.input), o.data_item_id, EncodeTime(o.time), EncodeValue(o.value)});
  if (o.ahead_time != absl::InfinitePast()) j.push_back(EncodeTime(o.ahead_time));
  return j;
}

absl::StatusOr<StateObservation> DecodeObservation(const Json& j) {
  if (!j.is_array() || j.size() < 4 || j.size() > 5 || !j[1].is_string()) {
    return Bad("held", "has a malformed observation");
  }
  StateObservation o;
  absl::StatusOr<int> input = DecodeEnum(j[0], "held", static_cast<int>(StateInput::kCondition));
  if (!input.ok()) return input.status();
  if (*input == 0) return Bad("held", "is out of range");
  o.input = static_cast<StateInput>(*input);
  o.data_item_id = j[1].get<std::string>();
  absl::StatusOr<absl::Time> time = DecodeTime(j[2], "held");
  if (!time.ok()) return time.status();
  o.time = *time;
  absl::StatusOr<ObservedValue> value = DecodeValue(j[3]);
  if (!value.ok()) return value.status();
  o.value = *std::move(value);
  if (j.size() == 5) {
    absl::StatusOr<absl::Time> ahead = DecodeTime(j[4], "held");
    if (!ahead.ok()) return ahead.status();
    o.ahead_time = *ahead;
  }
  return o;
}

}  // namespace

std::string EncodeTrackerState(const TrackerState& s) {
  Json j = Json::object();
  j["v"] = kVersion;
  j["execution"] = Json::array({static_cast<int>(s.execution), EncodeTime(s.execution_time)});
  j["availability"] =
      Json::array({static_cast<int>(s.availability), EncodeTime(s.availability_time)});
  j["emergency_stop"] =
      Json::array({static_cast<int>(s.emergency_stop), EncodeTime(s.emergency_stop_time)});
  Json conditions = Json::object();
  for (const auto& [id, item] : s.conditions) {
    Json codes = Json::array();
    for (const std::string& code : item.fault_codes) codes.push_back(code);
    conditions[id] = Json::array({EncodeTime(item.time), std::move(codes), item.overflow});
  }
  j["conditions"] = std::move(conditions);
  j["last_time"] = EncodeTime(s.last_time);
  j["settled"] = Json::array({static_cast<int>(s.settled_state), EncodeTime(s.settled_since)});
  if (s.in_downtime) {
    j["downtime"] = Json::array({static_cast<int>(s.downtime_state), EncodeTime(s.downtime_start)});
  }
  if (!s.withdrawals.empty()) {
    Json withdrawals = Json::array();
    for (const InputWithdrawal& w : s.withdrawals) {
      withdrawals.push_back(
          Json::array({static_cast<int>(w.input), w.data_item_id, EncodeTime(w.time)}));
    }
    j["withdrawals"] = std::move(withdrawals);
  }
  if (!s.held.empty()) {
    Json held = Json::array();
    for (const StateObservation& o : s.held) held.push_back(EncodeObservation(o));
    j["held"] = std::move(held);
  }
  // Replace invalid UTF-8 (an odd native code) rather than throwing.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<TrackerState> DecodeTrackerState(absl::string_view text) {
  const Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("text", "is not a JSON object");
  const auto version = j.find("v");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != kVersion) {
    return Bad("v", absl::StrCat("is not ", kVersion));
  }
  for (const char* key :
       {"execution", "availability", "emergency_stop", "conditions", "last_time", "settled"}) {
    if (!j.contains(key)) return Bad(key, "is missing");
  }
  constexpr int kMaxState = static_cast<int>(MachineState::kUnavailable);
  TrackerState s;
  int n = 0;
  absl::Status status = DecodePair(j["execution"], "execution", kMaxState, &n, &s.execution_time);
  if (!status.ok()) return status;
  s.execution = static_cast<MachineState>(n);
  status = DecodePair(j["availability"], "availability", 2, &n, &s.availability_time);
  if (!status.ok()) return status;
  s.availability = static_cast<TrackerState::Availability>(n);
  status = DecodePair(j["emergency_stop"], "emergency_stop", 2, &n, &s.emergency_stop_time);
  if (!status.ok()) return status;
  s.emergency_stop = static_cast<TrackerState::EmergencyStop>(n);

  const Json& conditions = j["conditions"];
  if (!conditions.is_object()) return Bad("conditions", "is not an object");
  for (const auto& [id, value] : conditions.items()) {
    if (!value.is_array() || value.size() != 3 || !value[1].is_array() || !value[2].is_boolean() ||
        value[1].size() > kMaxFaultCodesPerItem) {
      return Bad("conditions", "has a malformed item");
    }
    TrackerState::ConditionItem item;
    absl::StatusOr<absl::Time> time = DecodeTime(value[0], "conditions");
    if (!time.ok()) return time.status();
    item.time = *time;
    for (const Json& code : value[1]) {
      if (!code.is_string()) return Bad("conditions", "has a fault code that is not text");
      item.fault_codes.insert(code.get<std::string>());
    }
    item.overflow = value[2].get<bool>();
    s.conditions.emplace(id, std::move(item));
  }

  absl::StatusOr<absl::Time> last_time = DecodeTime(j["last_time"], "last_time");
  if (!last_time.ok()) return last_time.status();
  s.last_time = *last_time;
  status = DecodePair(j["settled"], "settled", kMaxState, &n, &s.settled_since);
  if (!status.ok()) return status;
  s.settled_state = static_cast<MachineState>(n);
  if (s.settled_since > s.last_time) return Bad("settled", "is after last_time");
  if (j.contains("downtime")) {
    status = DecodePair(j["downtime"], "downtime", kMaxState, &n, &s.downtime_start);
    if (!status.ok()) return status;
    s.in_downtime = true;
    s.downtime_state = static_cast<MachineState>(n);
    if (!IsDowntimeState(s.downtime_state)) return Bad("downtime", "is not DOWN or STOPPED");
    if (s.downtime_start > s.settled_since) return Bad("downtime", "starts after settled");
  }
  if (j.contains("withdrawals")) {
    const Json& withdrawals = j["withdrawals"];
    if (!withdrawals.is_array()) return Bad("withdrawals", "is not an array");
    for (const Json& w : withdrawals) {
      if (!w.is_array() || w.size() != 3 || !w[1].is_string()) {
        return Bad("withdrawals", "has a malformed withdrawal");
      }
      absl::StatusOr<int> input =
          DecodeEnum(w[0], "withdrawals", static_cast<int>(StateInput::kCondition));
      if (!input.ok()) return input.status();
      if (*input == 0) return Bad("withdrawals", "is out of range");
      absl::StatusOr<absl::Time> time = DecodeTime(w[2], "withdrawals");
      if (!time.ok()) return time.status();
      s.withdrawals.push_back({*time, static_cast<StateInput>(*input), w[1].get<std::string>()});
    }
  }
  if (j.contains("held")) {
    const Json& held = j["held"];
    if (!held.is_array()) return Bad("held", "is not an array");
    for (const Json& o : held) {
      absl::StatusOr<StateObservation> observation = DecodeObservation(o);
      if (!observation.ok()) return observation.status();
      if (!s.held.empty() && observation->time < s.held.back().time) {
        return Bad("held", "is not oldest first");
      }
      s.held.push_back(*std::move(observation));
    }
  }
  return s;
}

}  // namespace plantmesh::telemetry
