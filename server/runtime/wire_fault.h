// Why protobuf refused a message's bytes, said as a client can act on it: protobuf's
// parser answers only "not a well-formed message" (outside testing: a truncated field, a
// wire type that does not exist, field number 0 and groups nested past the limit were
// all told the same). Read the way the parser reads (proto3 wire format,
// https://protobuf.dev/programming-guides/encoding/), with offsets from the message's
// first byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace google::protobuf {
class Descriptor;
}

namespace plantmesh::runtime {

struct WireFault {
  std::string field;   // dot-separated path of the field it is in or of; "" at the root
  std::string reason;  // "byte 17: field defect (3) declares 200 bytes, 12 remain ..."
};

// Messages (and groups) nest at most this deep, as protobuf's parser allows.
inline constexpr int kMaxWireNesting = 100;

// The first fault in `wire` read as a `type`; nullopt when the bytes read as a message
// (protobuf refused them for another reason, e.g. text that is not UTF-8).
std::optional<WireFault> FindWireFault(std::string_view wire,
                                       const google::protobuf::Descriptor* type);

}  // namespace plantmesh::runtime
