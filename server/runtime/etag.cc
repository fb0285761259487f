#include "server/runtime/etag.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"

namespace plantmesh::runtime {

std::string EtagForm::Of(int64_t version) const { return absl::StrCat(prefix_, version, suffix_); }

std::optional<int64_t> EtagForm::VersionOf(absl::string_view etag) const {
  if (!absl::StartsWith(etag, prefix_) || !absl::EndsWith(etag, suffix_) ||
      etag.size() <= prefix_.size() + suffix_.size()) {
    return std::nullopt;
  }
  const absl::string_view digits =
      etag.substr(prefix_.size(), etag.size() - prefix_.size() - suffix_.size());
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t version = 0;
  if ((digits.size() > 1 && digits[0] == '0') || !absl::SimpleAtoi(digits, &version)) {
    return std::nullopt;
  }
  return version;
}

bool EtagForm::CheckForm(Violations& violations, std::string field, absl::string_view given,
                         bool required) const {
  if (given.empty() && required) {
    violations.Add(std::move(field), "required: the etag your last read of it returned");
    return false;
  }
  if (given.empty() || VersionOf(given).has_value()) return true;
  violations.Add(
      std::move(field),
      absl::StrCat("not an etag: ", QuoteForMessage(std::string_view(given.data(), given.size())),
                   "; pass the etag a read returned (like ", Of(7), ")",
                   // Re-test: "or none" was advised where the method requires one.
                   required ? "" : ", or none to change what is current"));
  return false;
}

absl::Status EtagForm::CheckForm(absl::string_view field, absl::string_view given,
                                 bool required) const {
  Violations form;
  CheckForm(form, std::string(field), given, required);
  return form.ToStatus();
}

absl::Status EtagForm::Check(absl::string_view field, absl::string_view resource,
                             int64_t current_version, absl::string_view given,
                             bool required) const {
  PM_RETURN_IF_ERROR(CheckForm(field, given, required));
  if (given.empty()) return absl::OkStatus();
  const std::string current = Of(current_version);
  if (given == current) return absl::OkStatus();
  const std::string quoted = QuoteForMessage(std::string_view(given.data(), given.size()));
  // A version it never had (newer than the current, or 0) was not read from it: saying
  // it "changed since" would claim a change that never happened (outside testing).
  const std::optional<int64_t> version = VersionOf(given);
  const bool never_had = version && (*version > current_version || *version < 1);
  return WithErrorInfo(
      absl::AbortedError(
          never_had
              ? absl::StrCat("etag ", quoted, " is not one ", resource, " has had (current etag ",
                             current, "): pass the etag a read of it returned")
              : absl::StrCat(resource, " changed since etag ", quoted, " (current etag ", current,
                             "); read it again and retry")),
      // Which resource and which etag, for a client that updates many at once (outside
      // testing: only current_etag was named).
      "ETAG_MISMATCH",
      {{"current_etag", current},
       {"etag", std::string(given)},
       {"resource", std::string(resource)}});
}

}  // namespace plantmesh::runtime
