// Building rich errors inside the server without protobuf or gRPC headers.
//
// Details ride on absl::Status payloads keyed by their google.rpc type URL; the one
// conversion to grpc::Status (ToGrpcStatus in grpc_status.h) packs every payload as an
// Any in a google.rpc.Status-compatible `grpc-status-details-bin` trailer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace plantmesh::runtime {

// The details a client is sent (grpc_status.h): google.rpc messages only.
inline constexpr std::string_view kGoogleRpcTypeUrlPrefix = "type.googleapis.com/google.rpc.";
inline constexpr std::string_view kBadRequestTypeUrl = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr std::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr std::string_view kPreconditionFailureTypeUrl =
    "type.googleapis.com/google.rpc.PreconditionFailure";
inline constexpr std::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";

// One wrong request field: `field` is the dot-separated path, `description` why.
struct FieldViolation {
  std::string field;
  std::string description;
};

// Violations listed in one status; the rest are counted in one more entry. A request
// with thousands of bad values is refused just the same, and the answer stays small:
// its message and details ride in the trailers, which clients cap (gRPC's default: 8 KiB
// for a C-core client; outside testing saw RESOURCE_EXHAUSTED "received initial metadata
// size exceeds limit" instead of INVALID_ARGUMENT for 499 listed violations).
inline constexpr size_t kMaxListedViolations = 20;
// A count is not a size: twenty violations of 260 characters each (every value name of
// an enum, a quoted value escaped \uXXXX) made 10 KB of trailers (outside testing). So
// the listed violations also fit a budget of what the status takes on the wire — the
// message percent-encoded in grpc-message, plus the details (which repeat it) in base64
// in grpc-status-details-bin — half of the 8 KiB default, leaving room for the other
// trailers; at least one is always listed, its field and description cut at
// kMaxViolationDescriptionBytes.
inline constexpr size_t kMaxViolationTrailerBytes = 4096;
inline constexpr size_t kMaxViolationDescriptionBytes = 512;

// Collects the field violations of a request, then turns them into one
// INVALID_ARGUMENT whose message names each field and reason: the first
// kMaxListedViolations that fit kMaxViolationTrailerBytes, then "<n> more field
// violations not listed".
class Violations {
 public:
  void Add(std::string field, std::string description);
  // There are more violations than were added: the check stopped looking (the status
  // says so instead of a count).
  void AddUncounted() { uncounted_ = true; }
  bool empty() const { return items_.empty(); }
  // The listed ones.
  const std::vector<FieldViolation>& items() const { return items_; }
  // `other`'s violations of fields this one does not name yet (one entry per field: a
  // blank required code is "required", not also "not a code"), and its counts.
  void AddUnnamed(const Violations& other);
  // OK when empty; otherwise INVALID_ARGUMENT with a BadRequest detail.
  absl::Status ToStatus() const;
  // Takes in a check's answer, so that a request's checks all run before one answer names
  // every wrong field (outside testing: an id's fault hid the etag's, horizon_days' hid
  // interval_level_percent's): the field violations of an INVALID_ARGUMENT that has some,
  // of fields not named yet (then OK), OK for OK; any other error is returned, for the
  // caller to answer instead.
  absl::Status Take(const absl::Status& check);

 private:
  std::vector<FieldViolation> items_;
  size_t unlisted_ = 0;
  bool uncounted_ = false;
};

// A required text: when `value` says nothing (common::IsBlankText), adds `field`:
// "required" (empty) or "required: only white space or invisible characters given", and returns
// false.
bool RequireText(Violations& violations, std::string field, std::string_view value);
// RequireText's description of `value`, nullopt when it says something.
std::optional<std::string> MissingTextViolation(std::string_view value);

// A List's page_size, one rule and one wording for every List of every service: 0 asks for
// `default_size` (0: all in one answer), 1..max_size for that many. Outside 0..max_size it
// adds `page_size`: "must be 0-1000 (0 means 100), got 5000" and returns `default_size`
// (outside testing: the same refusal was worded four ways across the services).
int PageSizeOr(Violations& violations, int64_t requested, int default_size, int max_size);

// An update's mask against the fields the method updates (`updatable`, in the contract's
// order), one wording for every update of every service: none named is `update_mask`
// "required: name the fields to change (a, b)", each other path "'x' cannot be updated;
// the fields that can: a, b". (A path named twice is refused before any handler:
// CheckRequiredFields.)
void CheckUpdatePaths(Violations& violations, const std::vector<std::string>& paths,
                      absl::Span<const absl::string_view> updatable);

// A client-supplied value for an error message, in single quotes. Values longer than
// kQuotedValueLimit characters are cut there and marked with their size, e.g.
// 'AAAA…' (1048576 bytes), so that a huge value cannot bloat grpc-message, trailers,
// logs and the audit log. Cuts on UTF-8 character boundaries. Characters that would
// change how the message displays (controls, bidirectional and zero-width format
// characters) are written as \uXXXX, bytes that are not UTF-8 as \xNN: outside testing
// saw a U+202E (right-to-left override) repeated into a message, reversing what
// follows it on a screen.
inline constexpr size_t kQuotedValueLimit = 64;
std::string QuoteForMessage(std::string_view value);

// A client's number as a message quotes it: the shortest decimal that reads back as the
// same double (std::to_chars), so a refused 1.0000000000000002 is not shown as 1 (outside
// testing: "is 0 or 1 ..., not 1").
std::string NumberForMessage(double value);

// `text` cut to at most `max_bytes` on a UTF-8 character boundary, ending in "…" when cut
// (when that fits), for a text that must stay within a size: unchanged when it does.
std::string CutToBytes(std::string_view text, size_t max_bytes);

// INVALID_ARGUMENT for a single field.
absl::Status InvalidField(std::string field, std::string description);

// A response of `bytes` bytes that the server would not send (more than `max`,
// max-send-message-bytes): RESOURCE_EXHAUSTED saying so and asking for less, with
// ErrorInfo RESPONSE_TOO_LARGE (bytes, max_bytes). The runtime checks every response
// with it (call_reactors.h), so a request whose answer is too large is told so, and
// counted, logged and audited as failed. That check comes after the handler: a method
// whose answer can outgrow its request and that writes (ProposePlan with create_drafts)
// checks the answer's size itself before committing, so a refused answer wrote nothing.
absl::Status ResponseTooLarge(size_t bytes, size_t max);

// The details below (and Violations' fields and descriptions) are display-safe as
// ForClient makes messages, which also keeps them valid UTF-8 (a protobuf string must be;
// a client cannot parse a detail that is not).

// ALREADY_EXISTS for an id that is taken, alike in every service: "<resource_type>
// '<id>' already exists" with ErrorInfo RESOURCE_EXISTS, metadata resource_type and id
// (an empty id, from a primary-key backstop that names none: "a <resource_type> with
// this id already exists", no id in the metadata).
absl::Status ResourceExists(std::string_view resource_type, std::string_view id);

// Attaches an ErrorInfo detail (reason, domain "plantmesh", metadata) to `status`.
absl::Status WithErrorInfo(absl::Status status, std::string_view reason,
                           const std::map<std::string, std::string>& metadata = {});

// Adds `key` = `value` to the ErrorInfo metadata of `status` (a key it has keeps its
// value; a status without an ErrorInfo is returned as it is). For a pure rule that does
// not know its subject (a state machine's next status): its caller names the resource, so
// that a client changing many can tell which one was refused (outside testing: an
// ILLEGAL_TRANSITION named the status, not the defect).
absl::Status WithErrorMetadata(absl::Status status, std::string_view key, std::string_view value);

// Attaches a PreconditionFailure detail with one violation to `status`.
absl::Status WithPreconditionFailure(absl::Status status, std::string_view type,
                                     std::string_view subject, std::string_view description);

// Attaches a RetryInfo detail: the least time a client should wait before sending the
// request again (AIP-194). For UNAVAILABLE and RESOURCE_EXHAUSTED only, the errors that a
// retry can mend; the call policy also sends it as gRPC's `grpc-retry-pushback-ms`
// trailer, which gRPC's retry policy honours (gRFC A6): without either, a client had no
// word of when to try a draining server or a full queue again.
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);
// The RetryInfo delay of `status`, nullopt when it has none.
std::optional<absl::Duration> RetryDelayOf(const absl::Status& status);

// How long a client is asked to wait (WithRetryDelay) before calling again: a server
// that drains or lost a dependency is back (or replaced) in about a second; a queue or a
// pool that is full frees in a fraction of one.
inline constexpr absl::Duration kRetryAfterOutage = absl::Seconds(1);
inline constexpr absl::Duration kRetryWhenBusy = absl::Milliseconds(200);

// UNAVAILABLE `message` from a server that stops (it takes no new calls, ends its
// streams): ErrorInfo SERVER_DRAINING (`metadata`) and RetryInfo kRetryAfterOutage.
absl::Status ServerDraining(std::string_view message,
                            const std::map<std::string, std::string>& metadata = {});

// UNAVAILABLE for a dependency the server cannot reach (`dependency`: "PostgreSQL",
// "Redis"), with `detail` (the client library's text, the address) as its message for the
// server's own log and start-up errors. ForClient tells a client only which dependency,
// with an error id that finds the detail in the log (outside testing: a call while
// PostgreSQL was down answered with libpq's "connection to server at "127.0.0.1", port
// 47703 failed: Connection refused"). `advice` follows the dependency's name in what the
// client is told: what to do (a connection lost during a commit must be retried with the
// same request_id). `problem`, when given, replaces "cannot reach" in what the client is
// told ("refuses writes": a read-only PostgreSQL answers, it is not out of reach). It asks
// for kRetryAfterOutage (WithRetryDelay).
absl::Status DependencyUnavailable(std::string_view dependency, std::string_view detail,
                                   std::string_view advice = "retry later",
                                   std::string_view problem = "");

// 64 random bits as 16 lowercase hex digits: unique enough to find one error in a log.
std::string NewErrorId();

// Codes that mean the server failed rather than the request: INTERNAL, UNKNOWN, DATA_LOSS.
bool IsServerFault(absl::StatusCode code);

// What a client is told about `status`. A server fault keeps its code but gets a
// generic message with a new error id (16 hex digits) and an ErrorInfo (reason
// SERVER_ERROR, metadata error_id) in place of its message and details, which can
// quote a database, a file or a peer; `*error_id` receives the id, for the caller to
// log with the original. So does a DependencyUnavailable, as UNAVAILABLE (ErrorInfo
// DEPENDENCY_UNAVAILABLE: dependency, error_id). Any other status keeps its code and
// details, and `*error_id` is cleared; one without an ErrorInfo gets one whose reason is
// the code's name ("NOT_FOUND"), so every error a client is told has a reason. Every message is
// made display-safe as it goes: characters that change how it displays (as QuoteForMessage says,
// but for line breaks and tabs) written as \uXXXX, bytes that are not UTF-8 as \xNN, whether or not
// its maker quoted what it repeats (outside testing: an ETAG_MISMATCH message, and the audit row
// with it, repeated a client's etag with a right-to-left override in it).
absl::Status ForClient(const absl::Status& status, std::string* error_id);

// Reads back the field violations of a status (for tests and logs).
std::vector<FieldViolation> FieldViolationsOf(const absl::Status& status);
// Reads back ErrorInfo (reason empty when absent).
struct ErrorInfoView {
  std::string reason;
  std::map<std::string, std::string> metadata;
};
ErrorInfoView ErrorInfoOf(const absl::Status& status);

// A status for a log line: "UNAVAILABLE: <message> (reason DEPENDENCY_UNAVAILABLE)", its
// details as words; absl's ToString() appended them as escaped protobuf bytes (outside
// testing: every background job's warning during a PostgreSQL outage).
std::string StatusForLog(const absl::Status& status);

}  // namespace plantmesh::runtime
