// A list page that fits one answer. AIP-158 lets a page be shorter than page_size; a
// list whose items are large (1,000 defects with 4,000-character descriptions, 10,000
// samples of 512-character texts) answers fewer of them and a next_page_token instead
// of failing RESOURCE_EXHAUSTED RESPONSE_TOO_LARGE, which no page_size in the documented
// range could avoid (outside testing).
#pragma once

#include <cstddef>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/runtime/config.h"

namespace plantmesh::runtime {

// Room left in an answer for what follows the items (next_page_token, watch_cursor).
inline constexpr size_t kPageTokenReserve = 2048;

// The most bytes this server sends in one message (max-send-message-bytes).
inline size_t MaxSendBytes(const ServerConfig* config) {
  if (config == nullptr || config->max_send_message_bytes <= 0) return size_t{4} << 20;
  return static_cast<size_t>(config->max_send_message_bytes);
}

// Drops items from the end of `*items` (a repeated field of `response`, filled with a
// page) until `response` leaves kPageTokenReserve of `limit`; returns how many are kept.
// At least one stays: an item too large alone is still the send limit's error.
template <class Response, class Item>
size_t FitPage(const Response& response, google::protobuf::RepeatedPtrField<Item>* items,
               size_t limit) {
  size_t bytes = response.ByteSizeLong();
  while (items->size() > 1 && bytes + kPageTokenReserve > limit) {
    const size_t item = items->Get(items->size() - 1).ByteSizeLong();
    // Tag (one byte: every list's items are a field numbered below 16), length, item.
    const size_t framed = 1 + google::protobuf::io::CodedOutputStream::VarintSize64(item) + item;
    bytes = bytes > framed ? bytes - framed : 0;
    items->RemoveLast();
  }
  return static_cast<size_t>(items->size());
}

// Ends a keyset page: FitPage, then, when more items follow (`more`: the store read
// past the page, or FitPage dropped some of its `page_items`), next_page_token made by
// `token(i)` from the page's item i, the last one kept.
template <class Response, class Item, class Token>
void EndPage(Response* response, google::protobuf::RepeatedPtrField<Item>* items, size_t page_items,
             bool more, const ServerConfig* config, Token token) {
  const size_t kept = FitPage(*response, items, MaxSendBytes(config));
  if ((more || kept < page_items) && kept > 0) response->set_next_page_token(token(kept - 1));
}

}  // namespace plantmesh::runtime
