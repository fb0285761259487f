// AIP-158 pages continued after a key, with page tokens bound to their method and
// request (page_token.h):
//   - whole lists: a store reads the list whole (a catalog of lines, products, crews,
//     mechanics) and the page is cut from it in byte order of one text key per item;
//   - numbered lists: a store reads the entries after a number, at most a limit (a
//     defect's history, a plan's revisions), so a page reads only its own entries.
// Such lists grow with the plant (thousands of mechanics, products with hundreds of
// changeovers, a plan revised hundreds of times with 4,000-character reasons) past what
// one answer can carry; unpaged, a list failed RESOURCE_EXHAUSTED RESPONSE_TOO_LARGE and
// could no longer be read (outside testing).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/runtime/config.h"
#include "server/runtime/errors.h"
#include "server/runtime/page_fit.h"
#include "server/runtime/page_token.h"

namespace plantmesh::runtime {

// The largest page_size a key page accepts.
inline constexpr int32_t kMaxKeyPageSize = 1000;

// Where a page starts, read from a request's page_size and page_token.
struct KeyPageRequest {
  std::string list_method;           // e.g. "ListProducts": its tokens only
  std::string fingerprint;           // of the request's other fields (its filter)
  size_t page_size = 0;              // 0: the list's default
  std::optional<std::string> after;  // key of the previous page's last item
  // The token of the page after the item with `key`.
  std::string TokenAfter(const std::string& key) const {
    return EncodeKeyPageToken({key}, fingerprint, list_method);
  }
};

// Reads `request`'s page_size (0-1000; 0 is `default_size`, 0 for all) and page_token (of
// `list_method`, for a request whose other fields are `filter`); a bad one adds a
// violation of its field to `violations`, its text saying what 0 means.
template <class Request>
KeyPageRequest ReadKeyPageRequest(const Request& request, absl::string_view list_method,
                                  const FilterFingerprint& filter, Violations& violations,
                                  int default_size = 0) {
  KeyPageRequest page;
  page.list_method = std::string(list_method);
  page.fingerprint = filter.Hex();
  page.page_size = static_cast<size_t>(
      PageSizeOr(violations, request.page_size(), default_size, kMaxKeyPageSize));
  if (!request.page_token().empty()) {
    std::optional<std::vector<std::string>> key =
        DecodeKeyPageToken(request.page_token(), 1, page.fingerprint, list_method, violations);
    if (key) page.after = std::move(key->front());
  }
  return page;
}

// A number as a key whose byte order is the numbers' order (20 digits of n + 2^63), for
// lists ordered by a number or a time (a revision, a sequence, microseconds).
inline std::string OrderedNumberKey(int64_t n) {
  return absl::StrFormat("%020u", static_cast<uint64_t>(n) ^ (uint64_t{1} << 63));
}

// A whole-list List method in one call: reads the request's page_size and page_token
// (for `filter`, the request's other fields), then `load()` (StatusOr of the entries),
// and fills `items` (a repeated field of `response`) with the page, in byte order of
// `key(entry)` (unique per entry; a member pointer such as &Crew::id or a function), each
// by `ToProto(entry, item)` (found in the entry's namespace), with next_page_token when
// more follow (EndPage: also when the send limit ends the page early). Keyset paging: an
// entry added or removed between pages moves no other. `request_check`: the method's own
// check of its other fields, answered in one INVALID_ARGUMENT with the page's.
template <class Request, class Load, class Key, class Response, class Item>
absl::Status ServeWholeListPage(const Request& request, absl::string_view list_method,
                                const FilterFingerprint& filter, const ServerConfig* config,
                                const Load& load, const Key& key, Response* response,
                                google::protobuf::RepeatedPtrField<Item>* items,
                                const absl::Status& request_check = absl::OkStatus()) {
  Violations violations;
  if (absl::Status other = violations.Take(request_check); !other.ok()) return other;
  const KeyPageRequest page = ReadKeyPageRequest(request, list_method, filter, violations);
  if (absl::Status status = violations.ToStatus(); !status.ok()) return status;
  auto entries = load();
  if (!entries.ok()) return entries.status();
  using Entry = typename std::decay_t<decltype(*entries)>::value_type;
  std::vector<std::pair<std::string, const Entry*>> keyed;
  keyed.reserve(entries->size());
  for (const Entry& entry : *entries) {
    std::string entry_key = std::invoke(key, entry);
    if (page.after && entry_key <= *page.after) continue;
    keyed.emplace_back(std::move(entry_key), &entry);
  }
  std::sort(keyed.begin(), keyed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const bool more = page.page_size > 0 && keyed.size() > page.page_size;
  if (more) keyed.resize(page.page_size);
  for (const auto& [entry_key, entry] : keyed) ToProto(*entry, items->Add());
  EndPage(response, items, keyed.size(), more, config,
          [&](size_t i) { return page.TokenAfter(keyed[i].first); });
  return absl::OkStatus();
}

// The number `key` spells as OrderedNumberKey spells it; nullopt for any other text.
inline std::optional<int64_t> NumberOfOrderedKey(absl::string_view key) {
  uint64_t biased = 0;
  if (key.size() != 20 || !std::all_of(key.begin(), key.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(key, &biased)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(biased ^ (uint64_t{1} << 63));
}

// The page_size 0 means for a numbered list: entries can be large (a 4,000-character
// description in a history entry), and a page reads only what it may answer.
inline constexpr size_t kDefaultNumberedPageSize = 100;
// Entries a numbered page reads at a time: it stops reading once the answer is full, so a
// page of 1,000 large entries reads about what one answer holds, not all 1,000.
inline constexpr size_t kNumberedReadChunk = 100;

// A List method over entries numbered in order (a defect's history by sequence, a plan's
// revisions by number) that its store reads after a number, at most a limit: the same
// request fields and tokens as ServeWholeListPage, but a page reads only about what it
// answers, kNumberedReadChunk entries at a time (outside testing: every page of a
// 2,000-entry history read all of it, 0.5 s a page, and 32 readers took the defect
// service to 2 GB; then a page_size of 1,000 read 1,000 entries of 32 KB to answer the
// 130 that fit). `load(after, limit)` returns the entries numbered above `after` (0: from
// the first), in order, at most `limit`; `number(entry)` is an entry's number. page_size
// 0 is kDefaultNumberedPageSize. `request_check` as ServeWholeListPage's.
template <class Request, class Load, class Number, class Response, class Item>
absl::Status ServeNumberedPage(const Request& request, absl::string_view list_method,
                               const FilterFingerprint& filter, const ServerConfig* config,
                               const Load& load, const Number& number, Response* response,
                               google::protobuf::RepeatedPtrField<Item>* items,
                               const absl::Status& request_check = absl::OkStatus()) {
  Violations violations;
  if (absl::Status other = violations.Take(request_check); !other.ok()) return other;
  // Outside testing: a bad page_size of a history was told "0 means all in one answer".
  const KeyPageRequest page = ReadKeyPageRequest(request, list_method, filter, violations,
                                                 static_cast<int>(kDefaultNumberedPageSize));
  int64_t after = 0;
  if (page.after) {
    std::optional<int64_t> cursor = NumberOfOrderedKey(*page.after);
    if (cursor) {
      after = *cursor;
    } else {
      violations.Add("page_token", absl::StrCat("not a token returned by ", list_method));
    }
  }
  if (absl::Status status = violations.ToStatus(); !status.ok()) return status;
  const size_t wanted = page.page_size > 0 ? page.page_size : kDefaultNumberedPageSize;
  const size_t max_bytes = MaxSendBytes(config);
  std::vector<int64_t> numbers;  // of the items answered, in order
  bool more = false;
  while (numbers.size() < wanted) {
    const size_t chunk = std::min(wanted - numbers.size(), kNumberedReadChunk);
    auto entries = load(numbers.empty() ? after : numbers.back(), chunk + 1);
    if (!entries.ok()) return entries.status();
    more = entries->size() > chunk;
    if (more) entries->resize(chunk);
    for (const auto& entry : *entries) {
      ToProto(entry, items->Add());
      numbers.push_back(number(entry));
    }
    if (!more || response->ByteSizeLong() >= max_bytes) break;
  }
  EndPage(response, items, numbers.size(), more, config,
          [&](size_t i) { return page.TokenAfter(OrderedNumberKey(numbers[i])); });
  return absl::OkStatus();
}

}  // namespace plantmesh::runtime
