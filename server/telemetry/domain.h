// The telemetry service's rules over machines and samples, free of gRPC, protobuf and
// SQL: what a machine may look like, which sample of a batch is stored and which is
// rejected (and why, naming the field), and the paging of machines and samples.
// Enum values are the contract's numbers (plantmesh.telemetry.v1), so conversions are
// casts checked by the contract's own IsValid.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/runtime/errors.h"
#include "server/runtime/etag.h"
#include "server/runtime/page_token.h"

namespace plantmesh::telemetry {

// MTConnect's data item category (DataItemCategory).
enum class Category : int { kUnspecified = 0, kSample = 1, kEvent = 2, kCondition = 3 };

// Limits of the contract (telemetry.proto, telemetry_service.proto).
inline constexpr int kMaxDataItems = 500;
inline constexpr int kMaxDataItemIdChars = 64;
inline constexpr int kMaxSamplesPerBatch = 10000;
inline constexpr int kMaxWriterIdChars = 128;
inline constexpr int kMaxTextValueChars = 512;
inline constexpr absl::Duration kMaxIdealCycleTime = absl::Hours(24);

struct DataItem {
  std::string id;    // the machine's own id, e.g. MTConnect dataItemId `Xact`
  std::string name;  // human-readable
  Category category = Category::kUnspecified;
  int type = 0;  // DataItemType's number; 0 = unset
  std::string units;
  std::string native_units;
};

struct Machine {
  std::string id;  // plant code, e.g. CNC-07
  std::string display_name;
  std::string line;
  std::string zone;
  std::optional<absl::Duration> ideal_cycle_time;
  std::vector<DataItem> data_items;
  absl::Time create_time;
  absl::Time update_time;
  int64_t version = 0;  // 1 when registered, +1 per stored change

  // What the API shows as the machine's etag (kMachineEtag: its version in decimal).
  std::string etag() const;
  // Registration order, the order ListMachines pages in (unique, from the store).
  int64_t seq = 0;
};

// The fields UpdateMachine's update_mask may name.
inline constexpr absl::string_view kUpdatableFields[] = {"display_name", "line", "zone",
                                                         "ideal_cycle_time", "data_items"};

// Every rule a machine must keep beyond the contract's text rules (which the runtime
// checks before the handler): data item ids unique and of the id pattern (1-64 letters,
// digits, `_`, `-`, `.`, `:`), category and type set (`type_known`: the proto enum
// knows the number), ideal cycle time 0 s .. 1 day, at most 500 data items. Adds a
// violation per broken rule, named from `prefix` (e.g. `machine.data_items[2].id`).
void CheckMachine(const Machine& machine, const std::string& prefix,
                  const std::vector<bool>& type_known, runtime::Violations& violations);

// Whether `id` has the data item id pattern.
bool IsDataItemId(absl::string_view id);
// What IsDataItemId asks, as error messages say it.
inline constexpr char kDataItemIdRule[] =
    "must be 1-64 characters: ASCII letters, digits, '_', '-', '.', ':'";
// Why `id` is no data item id, the value quoted and escaped and a blank or invisible
// character around it named as every no_blanks_around field names it ("" when it is one);
// for every path that takes an id (ingest, filters, RegisterMachine).
std::string DataItemIdProblem(absl::string_view id);

// A machine's etag: its version in decimal ("3").
inline constexpr runtime::EtagForm kMachineEtag{"", ""};

// Whether two machines describe the same thing: display name, line, zone, ideal cycle
// time and data items (in order, every field).
bool SameDescription(const Machine& a, const Machine& b);

// UpdateMachine: `current` with the fields of `patch` that `paths` names, version +1,
// update_time `now`; `current` itself (its version) when that describes it already.
// INVALID_ARGUMENT for an empty mask or a path it cannot change
// (`update_mask`); `etag` as runtime/etag.h says (optional; ABORTED when stale).
absl::StatusOr<Machine> ApplyMachineUpdate(const Machine& current, const Machine& patch,
                                           const std::vector<std::string>& paths,
                                           const std::string& etag, absl::Time now);
// The update_mask's paths alone (before the machine is read): INVALID_ARGUMENT when
// empty or naming a field that cannot change.
absl::Status CheckUpdateMask(const std::vector<std::string>& paths);

// ListMachines' query: filters and where the page starts.
struct MachineQuery {
  std::string line;  // "" = any
  std::string zone;
  int page_size = 100;
  std::optional<runtime::PageCursor> after;  // (create_time, seq) of the last one seen
};
inline constexpr int kDefaultMachinePageSize = 100;
inline constexpr int kMaxMachinePageSize = 1000;
absl::StatusOr<MachineQuery> MakeMachineQuery(const std::string& line, const std::string& zone,
                                              int32_t page_size, const std::string& page_token);
std::string NextMachinePageToken(const MachineQuery& query, const Machine& last);

// ---- Samples ----

// kWritten: the value as the source wrote it (Sample.written, in `text`), read by the data
// item's category when the batch is judged (JudgeBatch); never stored as such.
enum class ValueKind : int {
  kNone = 0,
  kNumber = 1,
  kText = 2,
  kCondition = 3,
  kUnavailable = 4,
  kWritten = 5
};

// One observation as it arrives or is stored.
struct Sample {
  std::string machine_id;
  std::string data_item_id;
  std::optional<absl::Time> time;  // unset: refused
  bool time_malformed = false;     // the Timestamp was outside its range: refused
  std::string time_violation;      // why, when time_malformed (runtime::TimestampViolation)
  ValueKind kind = ValueKind::kNone;
  double number = 0;
  std::string text;              // kText, kWritten
  int condition_level = 0;       // kCondition: ConditionLevel's number (1 NORMAL .. 3 FAULT)
  std::string native_code;       // kCondition
  std::string message;           // kCondition
  uint64_t source_sequence = 0;  // 0 = none
};

// RejectReason's numbers.
enum class RejectReason : int {
  kUnspecified = 0,
  kUnknownMachine = 1,
  kUnknownDataItem = 2,
  kWrongValueKind = 3,
  kNotFinite = 4,
  kTimeInFuture = 5,
  kTimeOutOfRange = 6,
  kInvalidText = 7,
  kNumberOutOfRange = 8,
};
inline constexpr int kRejectReasonCount = 9;

// The largest magnitude of a sample's number. Sums of numbers are what can overflow a
// double (QueryAggregates' sums, the rollups' cells; PostgreSQL then refuses the whole
// statement): 1.8e308 / 1e297 leaves room for 1.8e11 samples of one data item in one
// bucket, more than a day holds at one sample per microsecond.
inline constexpr double kMaxSampleMagnitude = 1e297;
// E.g. "UNKNOWN_MACHINE", for logs and figures.
absl::string_view RejectReasonName(RejectReason reason);

struct Rejection {
  int index = 0;  // in the batch, from 0
  RejectReason reason = RejectReason::kUnspecified;
  std::string message;  // names the field: `samples[3].number: NaN is not a value`
};

// The facts a batch is judged on: the data items (id -> category, type) of each registered
// machine the batch names. A machine absent here is unknown.
// DataItemType PART_COUNT: its samples are counts (JudgeSample, PartCount).
inline constexpr int kTypePartCount = 4;
// DataItemType numbers a machine's state is derived from (states.h): one item each.
inline constexpr int kTypeExecution = 2;
inline constexpr int kTypeAvailability = 3;
inline constexpr int kTypeEmergencyStop = 12;
inline constexpr int kTypeControllerMode = 11;
inline constexpr int kTypeDigitalInput = 14;
inline constexpr int kTypeDigitalOutput = 15;
// The largest part count: every whole number up to 2^53 is exact in a double.
inline constexpr double kMaxPartCount = 9007199254740992.0;

// A PART_COUNT given as text: decimal digits only (white space around them allowed) of
// at most kMaxPartCount, into `*count`; kTooLarge above it; kNotACount for any other
// text (a sign, a fraction, an exponent, hex). The judge and the part counter read
// text alike through it.
enum class PartCountText { kCount, kNotACount, kTooLarge };

// A text value as the service matches it (an EXECUTION state, a count's digits,
// "UNAVAILABLE"): without the characters that show nothing around it, the runtime's one
// rule of white space (common::TrimInvisible).
absl::string_view MatchedText(absl::string_view text);

PartCountText ParsePartCountText(absl::string_view text, double* count);

struct CatalogItem {
  CatalogItem() = default;
  CatalogItem(Category category, int type = 0) : category(category), type(type) {}  // NOLINT
  Category category = Category::kUnspecified;
  int type = 0;  // DataItemType's number
};
using Catalog = std::map<std::string, std::map<std::string, CatalogItem>>;

struct IngestLimits {
  absl::Duration max_future_skew = absl::Minutes(5);  // [telemetry] max-future-skew-seconds
  absl::Duration retention = absl::Hours(24 * 30);    // [telemetry] retention-days
};

// Why sample `index` cannot be stored, or nullopt. In this order: its text breaks the
// input rules (INVALID_TEXT: machine_id a plant code, data_item_id the id pattern, text
// and condition fields single lines within their lengths), the machine is not
// registered, it has no such data item, the time is unset, not a valid Timestamp or older
// than `now - retention` (TIME_OUT_OF_RANGE) or later than `now + max_future_skew`
// (TIME_IN_FUTURE), the value's kind does not fit the category (SAMPLE: number; EVENT:
// number or text; CONDITION: a condition with its level set; any: unavailable; none
// given: WRONG_VALUE_KIND; a written value is read by the category first, ReadWritten,
// and one that does not read is WRONG_VALUE_KIND), the number is NaN or infinite
// (NOT_FINITE) or beyond kMaxSampleMagnitude (NUMBER_OUT_OF_RANGE).
std::optional<Rejection> JudgeSample(const Sample& sample, int index, const Catalog& catalog,
                                     absl::Time now, const IngestLimits& limits);

// A written value (kWritten) as the kind its data item's category reads it as: UNAVAILABLE
// (any case, blanks around) unavailable in every category; a SAMPLE's a decimal number
// (common::ParseDecimal, blanks around); an EVENT's text exactly as written; a
// CONDITION's LEVEL[:NATIVE_CODE[:MESSAGE]], LEVEL normal, warning or fault in any case.
// Why it does not read otherwise (WRONG_VALUE_KIND "is not a decimal number", ...;
// NUMBER_OUT_OF_RANGE "is beyond a number's range ..."), `s` unchanged.
struct WrittenProblem {
  RejectReason reason;
  std::string why;
};
std::optional<WrittenProblem> ReadWritten(Category category, Sample* s);

// A whole batch: the indexes of the samples to store, in order, and the rejections.
struct Verdict {
  std::vector<int> accepted;
  std::vector<Rejection> rejected;
};
// Each accepted text that names a value is rewritten in its one stored form: the text
// UNAVAILABLE as the unavailable value, a vocabulary's word as listed (EXECUTION ACTIVE,
// CONTROLLER_MODE AUTOMATIC, ...), and a DIGITAL_INPUT/OUTPUT digit or a PART_COUNT
// given as text becomes the number.
Verdict JudgeBatch(std::vector<Sample>& samples, const Catalog& catalog, absl::Time now,
                   const IngestLimits& limits);

// The batch's frame (writer_id, batch_sequence, 1..10,000 samples): INVALID_ARGUMENT
// naming the field; a malformed batch ends the stream.
absl::Status CheckBatchFrame(const std::string& writer_id, uint64_t batch_sequence,
                             size_t sample_count);

// For each (machine, data item) among `accepted` samples of `samples`, the index of the
// newest one (by time; of equal times the later in the batch): what the latest values
// become, unless the store holds a newer one.
std::vector<int> NewestPerDataItem(const std::vector<Sample>& samples,
                                   const std::vector<int>& accepted);

// ---- Queries ----

struct SampleQuery {
  std::string machine_id;
  std::vector<std::string> data_item_ids;  // sorted, unique; empty = all
  absl::Time start_time;                   // inclusive
  absl::Time end_time;                     // exclusive
  int page_size = 1000;
  std::optional<runtime::PageCursor> after;  // (time, sample key) of the last one seen
};
inline constexpr int kDefaultSamplePageSize = 1000;
inline constexpr int kMaxSamplePageSize = 10000;

// A stored sample with its key: the order of samples of equal time (the order they
// were stored).
struct StoredSample {
  Sample sample;
  int64_t key = 0;
};

absl::StatusOr<SampleQuery> MakeSampleQuery(const std::string& machine_id,
                                            std::vector<std::string> data_item_ids,
                                            std::optional<absl::Time> start_time,
                                            std::optional<absl::Time> end_time, int32_t page_size,
                                            const std::string& page_token);
std::string NextSamplePageToken(const SampleQuery& query, const StoredSample& last);

// NOT_FOUND "no machine <id> is registered" with an ErrorInfo (reason
// MACHINE_NOT_FOUND, metadata machine_id): what every call naming a machine that is not
// registered answers (GetMachine, UpdateMachine and the reads, see
// TelemetryServiceImpl::RequireMachines).
absl::Status MachineNotFound(const std::string& machine_id);

// NOT_FOUND "no downtime <id>" (ErrorInfo DOWNTIME_NOT_FOUND, metadata downtime_id).
absl::Status DowntimeNotFound(int64_t downtime_id);

// NOT_FOUND "no data item <id> is registered on machine <id>" (or "on any of the N
// machines named") with an ErrorInfo (reason DATA_ITEM_NOT_FOUND, metadata data_item_id):
// what a read answers for a data item id that none of its machines has, rather than an
// empty answer that reads as "no data yet" (a typo in a dashboard's configuration).
absl::Status DataItemNotFound(const std::string& data_item_id,
                              const std::vector<std::string>& machine_ids);

// A filter's data item ids (`field`: "data_item_ids"): at most kMaxDataItems, each one
// with the data item id pattern. One that cannot exist would only match nothing: it is refused,
// naming `field[i]`, rather than answered with an empty result.
void CheckDataItemIdFilter(const std::vector<std::string>& data_item_ids, absl::string_view field,
                           runtime::Violations& violations);

// GetLatestValues' and StreamSamples' selection: 1-500 machine ids, data item ids
// optional (CheckDataItemIdFilter).
inline constexpr int kMaxLatestMachines = 500;
absl::Status CheckLatestSelection(const std::vector<std::string>& machine_ids,
                                  const std::vector<std::string>& data_item_ids);

// GetLatestValues' query: the selection and where the page starts. Values are ordered by
// (machine id, data item id), bytewise.
struct LatestQuery {
  std::vector<std::string> machine_ids;    // sorted, unique
  std::vector<std::string> data_item_ids;  // sorted, unique; empty = all
  int page_size = 0;                       // 0: everything in one answer
  // (machine id, data item id) of the last value of the previous page.
  std::optional<std::pair<std::string, std::string>> after;
};
inline constexpr int kMaxLatestPageSize = 10000;
// INVALID_ARGUMENT naming machine_ids (CheckLatestSelection), page_size (0-10,000) or
// page_token (another request's, or not one).
absl::StatusOr<LatestQuery> MakeLatestQuery(std::vector<std::string> machine_ids,
                                            std::vector<std::string> data_item_ids,
                                            int32_t page_size, const std::string& page_token);
std::string NextLatestPageToken(const LatestQuery& query, const Sample& last);

// The key of sample `index` of the batch numbered `batch_id` (the store's counter):
// unique, growing in storage order.
inline int64_t SampleKey(int64_t batch_id, int index) { return batch_id * 16384 + index; }

// ---- Partitions ----

// The UTC day partitions samples are stored in: [day, day + 1 day).
absl::Time DayStart(absl::Time t);
// The days that must exist at `now`: from the day of `now - retention` to the day of
// `now + ahead_days` (inclusive), oldest first.
std::vector<absl::Time> DaysToKeep(absl::Time now, absl::Duration retention, int ahead_days);
// Whether the partition of `day` holds only samples older than `now - retention`, so it
// may be dropped whole.
bool DayExpired(absl::Time day, absl::Time now, absl::Duration retention);
// The partition's table name in the schema, e.g. samples_20240307.
std::string PartitionName(absl::Time day);
// The day of a partition name, or nullopt for another table.
std::optional<absl::Time> DayOfPartition(absl::string_view name);

}  // namespace plantmesh::telemetry
