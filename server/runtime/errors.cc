// Rich error details as absl::Status payloads: each payload is the serialized
// plantmesh.api.v1 message (wire-compatible with google.rpc) under its type URL.
#include "server/runtime/errors.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "plantmesh/api/v1/error_details.pb.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/unicode_form.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::runtime {
namespace {

constexpr std::string_view kErrorDomain = "plantmesh";
constexpr std::string_view kDependencyUnavailable = "DEPENDENCY_UNAVAILABLE";

// Debian's abseil has its own string_view, not an alias of std::string_view.
absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

// Parses the payload under `type_url` into `message`; false when absent or malformed.
template <typename Message>
bool ReadPayload(const absl::Status& status, std::string_view type_url, Message* message) {
  auto payload = status.GetPayload(AbslView(type_url));
  if (!payload.has_value()) return false;
  return message->ParseFromString(std::string(*payload));
}

const char* FaultName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kDataLoss:
      return "data loss";
    case absl::StatusCode::kUnknown:
      return "unknown error";
    default:
      return "internal error";
  }
}

// The size of `text` in grpc-message: gRPC percent-encodes every byte outside
// 0x20-0x7E, and '%'.
size_t PercentEncodedSize(std::string_view text) {
  size_t size = 0;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    size += byte < 0x20 || byte > 0x7E || byte == '%' ? 3 : 1;
  }
  return size;
}

}  // namespace

std::string CutToBytes(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view kMark = "\xE2\x80\xA6";  // …
  const size_t mark = max_bytes >= kMark.size() ? kMark.size() : 0;
  size_t at = 0;
  while (at < text.size()) {
    const size_t length = std::max<size_t>(common::DecodeUtf8At(text, at).length, 1);
    if (at + length + mark > max_bytes) break;
    at += length;
  }
  std::string cut(text.substr(0, at));
  cut.append(kMark.substr(0, mark));
  return cut;
}

std::string NewErrorId() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return absl::StrCat(absl::Hex(engine(), absl::kZeroPad16));
}

bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
}

namespace {

// Appends value[at..] as it displays safely, at most `max_chars` characters of it; returns
// where it stopped. `keep_lines`: line breaks and tabs stay as they are.
size_t AppendEscaped(std::string_view value, size_t max_chars, bool keep_lines, std::string* out) {
  size_t at = 0;
  for (size_t chars = 0; at < value.size() && chars < max_chars; ++chars) {
    const auto [c, length] = common::DecodeUtf8At(value, at);
    if (c == common::kNotUtf8) {
      absl::StrAppendFormat(out, "\\x%02X", static_cast<unsigned char>(value[at]));
    } else if ((common::DisplaysEscaped(c) && !(keep_lines && (c == '\n' || c == '\t'))) ||
               (at == 0 && common::IsCombiningMark(c))) {
      // A combining mark first would draw on the quote before it (outside testing: '́17').
      common::AppendCodePointEscape(out, c);
    } else {
      out->append(value.substr(at, length));
    }
    at += length;
  }
  return at;
}

// `text` as it displays safely, line breaks and tabs kept (and so valid UTF-8, as a
// protobuf string must be).
std::string DisplaySafeText(std::string_view text) {
  std::string safe;
  AppendEscaped(text, std::string_view::npos, /*keep_lines=*/true, &safe);
  return safe;
}

// `status` with its message display-safe (ForClient), its payloads kept.
absl::Status DisplaySafe(const absl::Status& status) {
  std::string safe =
      DisplaySafeText(std::string_view(status.message().data(), status.message().size()));
  if (safe == status.message()) return status;
  absl::Status out(status.code(), safe);
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  return out;
}

}  // namespace

absl::Status ResourceExists(std::string_view resource_type, std::string_view id) {
  std::map<std::string, std::string> metadata = {{"resource_type", std::string(resource_type)}};
  std::string message;
  if (id.empty()) {
    message = absl::StrCat("a ", AbslView(resource_type), " with this id already exists");
  } else {
    message = absl::StrCat(AbslView(resource_type), " ", QuoteForMessage(id), " already exists");
    metadata["id"] = std::string(id);
  }
  return WithErrorInfo(absl::AlreadyExistsError(message), "RESOURCE_EXISTS", metadata);
}

absl::Status DependencyUnavailable(std::string_view dependency, std::string_view detail,
                                   std::string_view advice, std::string_view problem) {
  // The advice and problem ride in the server-side ErrorInfo; ForClient moves them into
  // the message.
  std::map<std::string, std::string> metadata = {{"dependency", std::string(dependency)},
                                                 {"advice", std::string(advice)}};
  if (!problem.empty()) metadata["problem"] = std::string(problem);
  return WithRetryDelay(
      WithErrorInfo(absl::UnavailableError(AbslView(detail)), kDependencyUnavailable, metadata),
      kRetryAfterOutage);
}

absl::Status ServerDraining(std::string_view message,
                            const std::map<std::string, std::string>& metadata) {
  return WithRetryDelay(
      WithErrorInfo(absl::UnavailableError(AbslView(message)), "SERVER_DRAINING", metadata),
      kRetryAfterOutage);
}

absl::Status ForClient(const absl::Status& status, std::string* error_id) {
  error_id->clear();
  if (status.code() == absl::StatusCode::kUnavailable) {
    ErrorInfoView info = ErrorInfoOf(status);
    if (info.reason == kDependencyUnavailable) {
      *error_id = NewErrorId();
      const std::string dependency = info.metadata["dependency"];
      const std::string problem = info.metadata["problem"];
      absl::Status told = WithErrorInfo(
          absl::UnavailableError(absl::StrCat(
              problem.empty() ? absl::StrCat("the server cannot reach its ", dependency)
                              : absl::StrCat("the server's ", dependency, " ", problem),
              "; ", info.metadata["advice"], " (error id ", *error_id,
              "; the server's log has the details)")),
          kDependencyUnavailable, {{"dependency", dependency}, {"error_id", *error_id}});
      if (std::optional<absl::Duration> delay = RetryDelayOf(status)) {
        told = WithRetryDelay(std::move(told), *delay);
      }
      return told;
    }
  }
  if (!IsServerFault(status.code())) {
    absl::Status safe = DisplaySafe(status);
    // Every error carries a reason a client can dispatch on (AIP-193's ErrorInfo): the
    // maker's, otherwise the code's name (outside testing: NOT_FOUND of one service had
    // a reason, of another none).
    if (ErrorInfoOf(safe).reason.empty()) {
      safe = WithErrorInfo(std::move(safe), absl::StatusCodeToString(safe.code()));
    }
    return safe;
  }
  *error_id = NewErrorId();
  absl::Status generic(status.code(),
                       absl::StrCat(FaultName(status.code()), " (error id ", *error_id,
                                    "); the server's log has the details"));
  return WithErrorInfo(std::move(generic), "SERVER_ERROR", {{"error_id", *error_id}});
}

std::string QuoteForMessage(std::string_view value) {
  std::string out = "'";
  const size_t at = AppendEscaped(value, kQuotedValueLimit, /*keep_lines=*/false, &out);
  if (at == value.size()) return out + "'";
  return absl::StrCat(out, "…' (", value.size(), " bytes)");
}

std::string NumberForMessage(double value) {
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

absl::Status ResponseTooLarge(size_t bytes, size_t max) {
  return WithErrorInfo(
      absl::ResourceExhaustedError(
          absl::StrCat("the answer would be ", bytes,
                       " bytes, more than this server sends in one message (", max,
                       ", max-send-message-bytes): ask for less at a time (fewer ids, a smaller "
                       "page_size, a shorter range or horizon)")),
      "RESPONSE_TOO_LARGE", {{"bytes", absl::StrCat(bytes)}, {"max_bytes", absl::StrCat(max)}});
}

std::optional<std::string> MissingTextViolation(std::string_view value) {
  if (!common::IsBlankText(value)) return std::nullopt;
  return value.empty() ? "required" : "required: only white space or invisible characters given";
}

bool RequireText(Violations& violations, std::string field, std::string_view value) {
  std::optional<std::string> missing = MissingTextViolation(value);
  if (!missing) return true;
  violations.Add(std::move(field), *std::move(missing));
  return false;
}

void CheckUpdatePaths(Violations& violations, const std::vector<std::string>& paths,
                      absl::Span<const absl::string_view> updatable) {
  const std::string fields = absl::StrJoin(updatable, ", ");
  if (paths.empty()) {
    violations.Add("update_mask",
                   absl::StrCat("required: name the fields to change (", fields, ")"));
  }
  // Each entry by its index, as the text rules name one (outside testing: a client with
  // several paths could not tell which one was refused).
  for (size_t i = 0; i < paths.size(); ++i) {
    if (std::find(updatable.begin(), updatable.end(), paths[i]) != updatable.end()) continue;
    violations.Add(absl::StrCat("update_mask.paths[", i, "]"),
                   absl::StrCat(QuoteForMessage(paths[i]),
                                " cannot be updated; the fields that can: ", fields));
  }
}

int PageSizeOr(Violations& violations, int64_t requested, int default_size, int max_size) {
  if (requested >= 0 && requested <= max_size) {
    return requested == 0 ? default_size : static_cast<int>(requested);
  }
  violations.Add("page_size",
                 absl::StrCat("must be 0-", max_size, " (0 means ",
                              default_size == 0 ? "all in one answer" : absl::StrCat(default_size),
                              "), got ", requested));
  return default_size;
}

void Violations::Add(std::string field, std::string description) {
  if (items_.size() < kMaxListedViolations) {
    items_.push_back({std::move(field), std::move(description)});
  } else {
    ++unlisted_;
  }
}

void Violations::AddUnnamed(const Violations& other) {
  std::set<std::string> named;
  for (const FieldViolation& item : items_) named.insert(item.field);
  for (const FieldViolation& item : other.items_) {
    if (named.count(item.field) == 0) Add(item.field, item.description);
  }
  unlisted_ += other.unlisted_;
  uncounted_ = uncounted_ || other.uncounted_;
}

absl::Status Violations::ToStatus() const {
  if (items_.empty()) return absl::OkStatus();
  std::string message;
  api::v1::BadRequest bad_request;
  auto add = [&](const std::string& field, const std::string& description) {
    // The count of those not listed names no field: "…; 5 more field violations not listed".
    absl::StrAppend(&message, message.empty() ? "" : "; ", field, field.empty() ? "" : ": ",
                    description);
    api::v1::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
    violation->set_field(field);
    violation->set_description(description);
  };
  // Room kept for the count of those not listed, the status' code and framing.
  constexpr size_t kReserve = 256;
  size_t wire = kReserve;
  size_t listed = 0;
  for (const FieldViolation& item : items_) {
    const std::string field =
        CutToBytes(DisplaySafeText(item.field), kMaxViolationDescriptionBytes);
    const std::string description =
        CutToBytes(DisplaySafeText(item.description), kMaxViolationDescriptionBytes);
    const size_t entry = field.size() + description.size() + 4;  // "; " and ": "
    // In grpc-message (percent-encoded), then twice in the details (the Status' message
    // and the violation, with their tags), in base64.
    const size_t cost = PercentEncodedSize(field) + PercentEncodedSize(description) + 4 +
                        (2 * entry + 8) * 4 / 3 + 1;
    if (listed > 0 && wire + cost > kMaxViolationTrailerBytes) break;
    wire += cost;
    ++listed;
    add(field, description);
  }
  const size_t unlisted = unlisted_ + (items_.size() - listed);
  if (uncounted_) {
    add("", absl::StrCat("more field violations not listed (the check stopped after the first ",
                         unlisted_ + items_.size(), ")"));
  } else if (unlisted > 0) {
    add("", absl::StrCat(unlisted, " more field violations not listed"));
  }
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(AbslView(kBadRequestTypeUrl), absl::Cord(bad_request.SerializeAsString()));
  return status;
}

absl::Status Violations::Take(const absl::Status& check) {
  if (check.ok()) return check;
  std::vector<FieldViolation> found = FieldViolationsOf(check);
  if (check.code() != absl::StatusCode::kInvalidArgument || found.empty()) return check;
  Violations taken;
  for (FieldViolation& violation : found) {
    // "<n> more field violations not listed" names no field: counted, not listed again.
    if (violation.field.empty()) {
      taken.AddUncounted();
    } else {
      taken.Add(std::move(violation.field), std::move(violation.description));
    }
  }
  AddUnnamed(taken);
  return absl::OkStatus();
}

absl::Status InvalidField(std::string field, std::string description) {
  Violations violations;
  violations.Add(std::move(field), std::move(description));
  return violations.ToStatus();
}

absl::Status WithErrorInfo(absl::Status status, std::string_view reason,
                           const std::map<std::string, std::string>& metadata) {
  if (status.ok()) return status;
  api::v1::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  for (const auto& [key, value] : metadata) {
    (*info.mutable_metadata())[DisplaySafeText(key)] = DisplaySafeText(value);
  }
  status.SetPayload(AbslView(kErrorInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status WithErrorMetadata(absl::Status status, std::string_view key, std::string_view value) {
  api::v1::ErrorInfo info;
  if (!ReadPayload(status, kErrorInfoTypeUrl, &info)) return status;
  info.mutable_metadata()->insert({DisplaySafeText(key), DisplaySafeText(value)});
  status.SetPayload(AbslView(kErrorInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status WithPreconditionFailure(absl::Status status, std::string_view type,
                                     std::string_view subject, std::string_view description) {
  if (status.ok()) return status;
  // Keeps violations attached earlier: a status may fail several preconditions.
  api::v1::PreconditionFailure failure;
  ReadPayload(status, kPreconditionFailureTypeUrl, &failure);
  api::v1::PreconditionFailure::Violation* violation = failure.add_violations();
  violation->set_type(std::string(type));
  violation->set_subject(DisplaySafeText(subject));
  violation->set_description(DisplaySafeText(description));
  status.SetPayload(AbslView(kPreconditionFailureTypeUrl), absl::Cord(failure.SerializeAsString()));
  return status;
}

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  if (status.code() != absl::StatusCode::kUnavailable &&
      status.code() != absl::StatusCode::kResourceExhausted) {
    return status;
  }
  api::v1::RetryInfo info;
  const int64_t nanos = absl::ToInt64Nanoseconds(std::max(delay, absl::ZeroDuration()));
  info.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  status.SetPayload(AbslView(kRetryInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  return status;
}

std::optional<absl::Duration> RetryDelayOf(const absl::Status& status) {
  api::v1::RetryInfo info;
  if (!ReadPayload(status, kRetryInfoTypeUrl, &info) || !info.has_retry_delay()) {
    return std::nullopt;
  }
  return absl::Seconds(info.retry_delay().seconds()) +
         absl::Nanoseconds(info.retry_delay().nanos());
}

std::vector<FieldViolation> FieldViolationsOf(const absl::Status& status) {
  std::vector<FieldViolation> result;
  api::v1::BadRequest bad_request;
  if (!ReadPayload(status, kBadRequestTypeUrl, &bad_request)) return result;
  for (const auto& violation : bad_request.field_violations()) {
    result.push_back({violation.field(), violation.description()});
  }
  return result;
}

std::string StatusForLog(const absl::Status& status) {
  if (status.ok()) return "OK";
  std::string out = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
  const ErrorInfoView info = ErrorInfoOf(status);
  if (!info.reason.empty()) absl::StrAppend(&out, " (reason ", info.reason, ")");
  return out;
}

ErrorInfoView ErrorInfoOf(const absl::Status& status) {
  ErrorInfoView view;
  api::v1::ErrorInfo info;
  if (!ReadPayload(status, kErrorInfoTypeUrl, &info)) return view;
  view.reason = info.reason();
  view.metadata.insert(info.metadata().begin(), info.metadata().end());
  return view;
}

}  // namespace plantmesh::runtime
