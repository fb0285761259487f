// Keyset paging for list methods (AIP-158): an opaque page token that carries where the
// previous page ended and a fingerprint of the request's filter and order, so that a
// token is refused with another filter or order instead of silently paging through
// other results. Free of gRPC and protobuf: a service's pure domain uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {

// Where a page ended: the sort time of its last item (microsecond precision) and that
// item's id, which breaks ties between items of the same time.
struct PageCursor {
  absl::Time sort_time;
  int64_t id = 0;
};

// The fingerprint of a list request's filter and order: the parts in a fixed order,
// each exactly once. Text is length-prefixed, so no value can pass for two.
class FilterFingerprint {
 public:
  // A part written as it is: a number, an enum, a sorted list of numbers joined by ','.
  FilterFingerprint& AddRaw(absl::string_view part);
  // A part any client text can be (a filter value): written as "<length>:<text>".
  FilterFingerprint& AddText(absl::string_view text);
  // An optional time: its microseconds since the epoch, or "-" when absent.
  FilterFingerprint& AddTime(const std::optional<absl::Time>& time);
  // 16 lowercase hex digits (FNV-1a, 64 bits) of the parts joined by '|'.
  std::string Hex() const;

 private:
  std::string canonical_;
  bool first_ = true;
};

// The opaque token (web-safe base64) for the page after `cursor` of the request whose
// fingerprint is `fingerprint`, to `list_method` (e.g. "ListDefects"): the token carries
// the fingerprint bound to the method, so another method refuses it.
std::string EncodePageToken(const PageCursor& cursor, absl::string_view fingerprint,
                            absl::string_view list_method);

// Reads a token of `list_method` (e.g. "ListDefects") for a request whose fingerprint is
// `fingerprint`. On a bad token adds a violation of field `page_token` to `violations`
// and returns nullopt: "not a token returned by <list_method>" when it cannot be read
// (or its time is outside google.protobuf.Timestamp's range), "the filter or order_by
// differs from the request that returned this token, or another method returned it" when
// it is another request's or another method's. An empty `fingerprint` (a request whose
// own filters are refused, so that no token can be said to match them) judges the
// token's form alone and returns nullopt: a text that is no token is named beside the
// request's other faults (outside testing: a bad order_by or page_size hid it).
std::optional<PageCursor> DecodePageToken(absl::string_view token, absl::string_view fingerprint,
                                          absl::string_view list_method, Violations& violations);

// Keyset paging by text keys, for lists ordered by ids rather than by time (e.g.
// GetLatestValues by machine id, then data item id): the token carries the key parts of
// the page's last item (any bytes, each escaped) and the fingerprint.
std::string EncodeKeyPageToken(const std::vector<std::string>& key, absl::string_view fingerprint,
                               absl::string_view list_method);

// Reads a token of EncodeKeyPageToken with exactly `parts` key parts; bad tokens are
// refused as DecodePageToken refuses them (a violation of field `page_token`, nullopt;
// an empty `fingerprint` judges the form alone).
std::optional<std::vector<std::string>> DecodeKeyPageToken(absl::string_view token, size_t parts,
                                                           absl::string_view fingerprint,
                                                           absl::string_view list_method,
                                                           Violations& violations);

}  // namespace plantmesh::runtime
