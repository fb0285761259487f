// Etags of resources versioned by a counter (AIP-154): an etag names one version of one
// resource, written in the form its service has always issued (defect "v7", telemetry "7",
// planning "\"v7\"", an HTTP entity tag's quotes), so the etags clients hold stay valid.
//
// What a client may send in an etag field, for every method of every service:
//   ""                 none: the change applies to what is current, unless the method
//                      requires an etag (INVALID_ARGUMENT "<field>: required: …");
//   an etag of the     compared with the current version: another version is ABORTED
//   service's form     (ErrorInfo ETAG_MISMATCH, metadata current_etag), nothing written;
//   anything else      INVALID_ARGUMENT naming the field and the form: no version of any
//                      resource ever had it (outside testing: `abc` was answered ABORTED
//                      "changed since etag 'abc'", as if it had been stale).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {

class EtagForm {
 public:
  // An etag is `prefix`, the version in decimal (no sign, no leading zero), `suffix`.
  constexpr EtagForm(absl::string_view prefix, absl::string_view suffix)
      : prefix_(prefix), suffix_(suffix) {}

  std::string Of(int64_t version) const;
  // The version `etag` names; nullopt when it is not of this form.
  std::optional<int64_t> VersionOf(absl::string_view etag) const;

  // Adds `field` to `violations` (and returns false) when `given` is not an etag of this
  // form, or is "" and `required`. Handlers check it before they read the resource, so a
  // malformed etag is an input fault whether or not the resource exists.
  bool CheckForm(Violations& violations, std::string field, absl::string_view given,
                 bool required) const;
  // The same alone: OK, or INVALID_ARGUMENT naming `field`.
  absl::Status CheckForm(absl::string_view field, absl::string_view given, bool required) const;
  // CheckForm, then `given` against the resource's current version; `resource` names it
  // in the ABORTED message ("defect 12") and its ErrorInfo ETAG_MISMATCH (metadata
  // current_etag, etag: the one given, resource).
  absl::Status Check(absl::string_view field, absl::string_view resource, int64_t current_version,
                     absl::string_view given, bool required) const;

 private:
  absl::string_view prefix_;
  absl::string_view suffix_;
};

}  // namespace plantmesh::runtime
