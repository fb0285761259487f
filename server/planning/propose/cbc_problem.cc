#include "server/planning/propose/cbc_problem.h"

#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace plantmesh::planning::propose::internal {
namespace {

// Both ends are this program's build (the same struct layouts, the same byte order): the
// tags below change whenever the layout does.
constexpr absl::string_view kProblemTag = "plantmesh-cbc-problem/1";
constexpr absl::string_view kRunTag = "plantmesh-cbc-run/1";
constexpr uint8_t kRunOk = 0;
constexpr uint8_t kRunError = 1;

class Writer {
 public:
  explicit Writer(absl::string_view tag) { Bytes(tag.data(), tag.size()); }
  template <typename T>
  void Value(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    Bytes(&value, sizeof value);
  }
  template <typename T>
  void Values(const std::vector<T>& values) {
    Value<uint64_t>(values.size());
    Bytes(values.data(), values.size() * sizeof(T));
  }
  void Bytes(const void* data, size_t size) { out_.append(static_cast<const char*>(data), size); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& bytes) : at_(bytes.data()), end_(at_ + bytes.size()) {}
  bool Tag(absl::string_view tag) {
    if (Left() < tag.size() || absl::string_view(at_, tag.size()) != tag) return false;
    at_ += tag.size();
    return true;
  }
  template <typename T>
  bool Value(T* value) {
    return Bytes(value, sizeof *value);
  }
  template <typename T>
  bool Values(std::vector<T>* values) {
    uint64_t count = 0;
    if (!Value(&count) || count > Left() / sizeof(T)) return false;
    values->resize(count);
    return Bytes(values->data(), count * sizeof(T));
  }
  bool Bytes(void* data, size_t size) {
    if (Left() < size) return false;
    std::memcpy(data, at_, size);
    at_ += size;
    return true;
  }
  size_t Left() const { return static_cast<size_t>(end_ - at_); }
  std::string Rest() const { return std::string(at_, end_); }

 private:
  const char* at_;
  const char* end_;
};

}  // namespace

std::string EncodeProblem(const CbcProblem& p) {
  Writer w(kProblemTag);
  w.Values(p.column_lower);
  w.Values(p.column_upper);
  w.Values(p.cost);
  w.Values(p.integer);
  w.Values(p.row_lower);
  w.Values(p.row_upper);
  w.Values(p.column_starts);
  w.Values(p.entry_rows);
  w.Values(p.entry_values);
  w.Values(p.start);
  w.Value(p.seconds);
  w.Value(p.relative_gap);
  w.Value(p.absolute_gap);
  w.Value(p.max_nodes);
  return w.Take();
}

absl::StatusOr<CbcProblem> DecodeProblem(const std::string& bytes) {
  Reader r(bytes);
  CbcProblem p;
  if (!r.Tag(kProblemTag)) {
    return absl::InternalError(
        absl::StrCat("the solver's input is not a ", kProblemTag, " problem (another version?)"));
  }
  const bool parsed = r.Values(&p.column_lower) && r.Values(&p.column_upper) && r.Values(&p.cost) &&
                      r.Values(&p.integer) && r.Values(&p.row_lower) && r.Values(&p.row_upper) &&
                      r.Values(&p.column_starts) && r.Values(&p.entry_rows) &&
                      r.Values(&p.entry_values) && r.Values(&p.start) && r.Value(&p.seconds) &&
                      r.Value(&p.relative_gap) && r.Value(&p.absolute_gap) &&
                      r.Value(&p.max_nodes) && r.Left() == 0;
  if (!parsed) return absl::InternalError("the solver's input is cut short or too long");
  const size_t columns = p.column_lower.size();
  const bool consistent = p.column_upper.size() == columns && p.cost.size() == columns &&
                          p.integer.size() == columns && p.start.size() == columns &&
                          p.row_upper.size() == p.row_lower.size() &&
                          p.column_starts.size() == columns + 1 && p.column_starts.front() == 0 &&
                          static_cast<size_t>(p.column_starts.back()) == p.entry_rows.size() &&
                          p.entry_values.size() == p.entry_rows.size();
  if (!consistent) return absl::InternalError("the solver's input has arrays of unequal sizes");
  return p;
}

std::string EncodeRun(const absl::StatusOr<CbcRun>& run) {
  Writer w(kRunTag);
  if (!run.ok()) {
    w.Value(kRunError);
    const std::string message(run.status().message());
    w.Bytes(message.data(), message.size());
    return w.Take();
  }
  w.Value(kRunOk);
  w.Values(run->values);
  w.Value(run->bound);
  w.Value<uint8_t>(run->optimal);
  w.Value<uint8_t>(run->node_limit);
  return w.Take();
}

absl::StatusOr<CbcRun> DecodeRun(const std::string& bytes) {
  Reader r(bytes);
  uint8_t kind = 0;
  if (!r.Tag(kRunTag) || !r.Value(&kind)) {
    return absl::InternalError(
        absl::StrCat("the solver program's answer is not a ", kRunTag, " (another version?)"));
  }
  if (kind == kRunError) return absl::InternalError(r.Rest());
  CbcRun run;
  uint8_t optimal = 0, node_limit = 0;
  if (kind != kRunOk || !r.Values(&run.values) || !r.Value(&run.bound) || !r.Value(&optimal) ||
      !r.Value(&node_limit) || r.Left() != 0) {
    return absl::InternalError("the solver program's answer is cut short or too long");
  }
  run.optimal = optimal != 0;
  run.node_limit = node_limit != 0;
  return run;
}

}  // namespace plantmesh::planning::propose::internal
