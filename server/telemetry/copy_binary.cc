#include "server/telemetry/copy_binary.h"

#include <cstring>

namespace plantmesh::telemetry {
namespace {

// PostgreSQL's timestamps count microseconds from 2000-01-01 00:00:00 UTC.
constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000LL;

}  // namespace

CopyBinaryWriter::CopyBinaryWriter() {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";
  buffer_.append(kSignature, sizeof(kSignature));  // 11 bytes with its NUL
  PutInt32(0);                                     // flags
  PutInt32(0);                                     // header extension length
}

void CopyBinaryWriter::PutInt16(int16_t value) {
  const uint16_t v = static_cast<uint16_t>(value);
  buffer_.push_back(static_cast<char>(v >> 8));
  buffer_.push_back(static_cast<char>(v & 0xff));
}

void CopyBinaryWriter::PutInt32(int32_t value) {
  const uint32_t v = static_cast<uint32_t>(value);
  for (int shift = 24; shift >= 0; shift -= 8) buffer_.push_back(static_cast<char>(v >> shift));
}

void CopyBinaryWriter::PutInt64(int64_t value) {
  const uint64_t v = static_cast<uint64_t>(value);
  for (int shift = 56; shift >= 0; shift -= 8) buffer_.push_back(static_cast<char>(v >> shift));
}

void CopyBinaryWriter::BeginRow(int16_t fields) { PutInt16(fields); }

void CopyBinaryWriter::AddNull() { PutInt32(-1); }

void CopyBinaryWriter::AddText(absl::string_view value) {
  PutInt32(static_cast<int32_t>(value.size()));
  buffer_.append(value.data(), value.size());
}

void CopyBinaryWriter::AddInt16(int16_t value) {
  PutInt32(2);
  PutInt16(value);
}

void CopyBinaryWriter::AddInt64(int64_t value) {
  PutInt32(8);
  PutInt64(value);
}

void CopyBinaryWriter::AddFloat8(double value) {
  int64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  PutInt32(8);
  PutInt64(bits);
}

void CopyBinaryWriter::AddTimestamp(absl::Time value) {
  PutInt32(8);
  PutInt64(absl::ToUnixMicros(value) - kPostgresEpochUnixMicros);
}

const std::string& CopyBinaryWriter::Finish() {
  PutInt16(-1);
  return buffer_;
}

}  // namespace plantmesh::telemetry
