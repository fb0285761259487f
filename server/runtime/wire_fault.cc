#include "server/runtime/wire_fault.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace plantmesh::runtime {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

class FaultFinder {
 public:
  explicit FaultFinder(std::string_view wire) : wire_(wire) {}

  // The fields of one message (or group) from `begin` to `end` (offsets in wire_); an
  // open group ends at its end-group tag (`group`: its field number, 0 for a message).
  std::optional<WireFault> Message(size_t begin, size_t end, const Descriptor* type,
                                   const std::string& path, int depth, uint32_t group,
                                   size_t* group_end) {
    if (depth > kMaxWireNesting) {
      return Fault(path, begin,
                   absl::StrCat("messages and groups nest deeper than ", kMaxWireNesting));
    }
    size_t at = begin;
    absl::flat_hash_map<uint32_t, int> occurrences;
    while (at < end) {
      const size_t tag_at = at;
      uint64_t read = 0;
      // A tag is a varint of at most 5 bytes, read as its low 32 bits (as the parser does).
      if (!Varint(&at, end, &read, 5)) {
        return Fault(path, tag_at, "a field's tag is cut short or longer than 5 bytes");
      }
      const uint32_t tag = static_cast<uint32_t>(read);
      const uint32_t number = tag >> 3;
      const int wire_type = static_cast<int>(tag & 7);
      if (number == 0) {
        // 2^29 and its multiples are cut to 0 too (outside testing: told "field number 0").
        return Fault(path, tag_at,
                     absl::StrCat("field number ", read >> 3, " does not exist (1-536870911)"));
      }
      const FieldDescriptor* field =
          type != nullptr ? type->FindFieldByNumber(static_cast<int>(number)) : nullptr;
      std::string field_path =
          field == nullptr
              ? path
              : (path.empty() ? field->name() : absl::StrCat(path, ".", field->name()));
      // An element of a repeated message or string by its place, as BadRequest paths name
      // them ("samples[3]"); a map entry and a packed run name the field alone.
      if (field != nullptr && field->is_repeated() && !field->is_map() && !field->is_packable()) {
        absl::StrAppend(&field_path, "[", occurrences[number]++, "]");
      }
      const std::string what = field == nullptr
                                   ? absl::StrCat("unknown field ", number)
                                   : absl::StrCat("field ", field->name(), " (", number, ")");
      switch (wire_type) {
        case WireFormatLite::WIRETYPE_VARINT: {
          uint64_t ignored = 0;
          if (!Varint(&at, end, &ignored)) {
            return Fault(field_path, tag_at,
                         absl::StrCat(what, ": its varint is cut short or longer than 10 bytes"));
          }
          break;
        }
        case WireFormatLite::WIRETYPE_FIXED64:
        case WireFormatLite::WIRETYPE_FIXED32: {
          const size_t width = wire_type == WireFormatLite::WIRETYPE_FIXED64 ? 8 : 4;
          if (end - at < width) return Fault(field_path, tag_at, CutShort(what, width, end - at));
          at += width;
          break;
        }
        case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
          uint64_t length = 0;
          if (!Varint(&at, end, &length, 5)) {
            return Fault(field_path, tag_at,
                         absl::StrCat(what, ": its length is cut short or longer than 5 bytes"));
          }
          if (length > end - at) return Fault(field_path, tag_at, CutShort(what, length, end - at));
          if (field != nullptr && field->is_packable()) {
            if (auto fault = Packed(at, at + length, field, field_path, what)) return fault;
          }
          if (field != nullptr && field->type() == FieldDescriptor::TYPE_MESSAGE) {
            if (auto fault = Message(at, at + length, field->message_type(), field_path, depth + 1,
                                     0, nullptr)) {
              return fault;
            }
          }
          at += length;
          break;
        }
        case WireFormatLite::WIRETYPE_START_GROUP: {
          size_t after = 0;
          const Descriptor* group_type =
              field != nullptr && field->type() == FieldDescriptor::TYPE_GROUP
                  ? field->message_type()
                  : nullptr;
          if (auto fault = Message(at, end, group_type, field_path, depth + 1,
                                   static_cast<uint32_t>(number), &after)) {
            return fault;
          }
          at = after;
          break;
        }
        case WireFormatLite::WIRETYPE_END_GROUP:
          if (group == 0 || number != group) {
            return Fault(
                path, tag_at,
                absl::StrCat("an end-group tag of field ", number, " closes no group open there"));
          }
          *group_end = at;
          return std::nullopt;
        default:
          return Fault(field_path, tag_at,
                       absl::StrCat(what, ": wire type ", wire_type, " does not exist (0-5)"));
      }
    }
    if (group != 0) {
      return Fault(path, end,
                   absl::StrCat("the group of field ", group, " never ends (no end-group tag)"));
    }
    return std::nullopt;
  }

 private:
  // A packed repeated scalar's values, from `begin` to `end`.
  std::optional<WireFault> Packed(size_t begin, size_t end, const FieldDescriptor* field,
                                  const std::string& path, const std::string& what) const {
    const WireFormatLite::WireType type =
        WireFormatLite::WireTypeForFieldType(static_cast<WireFormatLite::FieldType>(field->type()));
    if (type != WireFormatLite::WIRETYPE_VARINT) {
      const size_t width = type == WireFormatLite::WIRETYPE_FIXED64 ? 8 : 4;
      if ((end - begin) % width == 0) return std::nullopt;
      return Fault(path, begin,
                   absl::StrCat(what, ": packed values of ", width, " bytes each in ", end - begin,
                                " bytes"));
    }
    for (size_t at = begin; at < end;) {
      const size_t value_at = at;
      uint64_t ignored = 0;
      if (!Varint(&at, end, &ignored)) {
        return Fault(path, value_at,
                     absl::StrCat(what, ": a packed value is cut short or longer than 10 bytes"));
      }
    }
    return std::nullopt;
  }

  // A varint of at most `max_bytes` bytes (10 for a value, as the parser reads them).
  bool Varint(size_t* at, size_t end, uint64_t* value, int max_bytes = 10) const {
    *value = 0;
    for (int i = 0; i < max_bytes && *at < end; ++i) {
      const uint8_t byte = static_cast<uint8_t>(wire_[(*at)++]);
      *value |= static_cast<uint64_t>(byte & 0x7F) << std::min(7 * i, 63);
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  static std::string CutShort(const std::string& what, uint64_t declared, size_t remaining) {
    return absl::StrCat(what, ": needs ", declared, " bytes, ", remaining,
                        " remain (the message is cut short, or a length is wrong)");
  }

  static std::optional<WireFault> Fault(const std::string& path, size_t at, std::string why) {
    return WireFault{path, absl::StrCat("byte ", at, ": ", why)};
  }

  std::string_view wire_;
};

}  // namespace

std::optional<WireFault> FindWireFault(std::string_view wire, const Descriptor* type) {
  return FaultFinder(wire).Message(0, wire.size(), type, "", 0, 0, nullptr);
}

}  // namespace plantmesh::runtime
