#include "server/runtime/stream_cursor.h"

#include <cstdint>
#include <random>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

constexpr size_t kGenerationDigits = 16;

bool IsGeneration(absl::string_view text) {
  if (text.size() != kGenerationDigits) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The first 4 hex digits of a generation: FNV-1a of the stream key, folded to 16 bits.
std::string StreamTag(absl::string_view stream_key) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : stream_key) hash = (hash ^ c) * 16777619u;
  return absl::StrFormat("%04x", (hash >> 16) ^ (hash & 0xffff));
}

}  // namespace

absl::StatusOr<StreamCursor> StreamCursor::Parse(absl::string_view text, absl::string_view field) {
  StreamCursor cursor;
  if (text.empty()) return cursor;
  if (text == "0") {
    cursor.kind = Kind::kStart;
    return cursor;
  }
  absl::string_view id_text = text;
  if (size_t dot = text.find('.'); dot != absl::string_view::npos) {
    cursor.generation = std::string(text.substr(0, dot));
    id_text = text.substr(dot + 1);
    if (!IsGeneration(cursor.generation)) id_text = "";  // refused below
  }
  // Numbers in their one spelling (no leading zeros), as cursors are handed out:
  // outside testing found `0-00` taken, where page tokens and ids refuse such forms.
  if (!StreamId::Parse(id_text, &cursor.id) || cursor.id.ToString() != id_text) {
    return InvalidField(std::string(field),
                        absl::StrCat(QuoteForMessage(std::string_view(text.data(), text.size())),
                                     " is not a watch cursor: expected a cursor this stream "
                                     "handed out (<generation>.<ms>-<seq>: an event's, or a List "
                                     "response's watch_cursor), <ms>-<seq> (decimal, no leading "
                                     "zeros), \"0\" (the oldest retained event) or empty (where "
                                     "the method says a stream without a cursor starts)"));
  }
  cursor.kind = Kind::kAfter;
  return cursor;
}

std::string FormatCursor(absl::string_view generation, const StreamId& id) {
  return absl::StrCat(generation, ".", id.ToString());
}

absl::Status ResumableUnavailable(absl::string_view reason, absl::string_view message,
                                  const std::string& cursor) {
  return WithErrorInfo(
      absl::UnavailableError(absl::StrCat(message, "; resume with cursor ", cursor)),
      std::string_view(reason.data(), reason.size()), {{"cursor", cursor}});
}

std::string NewStreamGeneration(absl::string_view stream_key) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return absl::StrCat(StreamTag(stream_key), absl::StrFormat("%012x", random() >> 16));
}

bool IsGenerationOfStream(absl::string_view generation, absl::string_view stream_key) {
  return generation.size() == kGenerationDigits && generation.substr(0, 4) == StreamTag(stream_key);
}

std::string GenerationKey(absl::string_view stream_key) {
  return absl::StrCat(stream_key, ":generation");
}

}  // namespace plantmesh::runtime
