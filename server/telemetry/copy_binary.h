// PostgreSQL's binary COPY format (COPY ... FROM STDIN WITH (FORMAT binary)), written
// into a buffer for PQputCopyData: the header, one tuple per row, the trailer. Pure:
// no connection. Field encodings are the types' binary send formats (network order).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace plantmesh::telemetry {

class CopyBinaryWriter {
 public:
  CopyBinaryWriter();  // writes the header

  // Starts a row of `fields` fields; then exactly that many Add* calls.
  void BeginRow(int16_t fields);
  void AddNull();
  void AddText(absl::string_view value);  // text / varchar
  void AddInt16(int16_t value);           // int2
  void AddInt64(int64_t value);           // int8
  void AddFloat8(double value);           // float8
  void AddTimestamp(absl::Time value);    // timestamptz, microsecond precision

  // The whole buffer with the trailer; the writer is done.
  const std::string& Finish();
  size_t size() const { return buffer_.size(); }

 private:
  void PutInt16(int16_t value);
  void PutInt32(int32_t value);
  void PutInt64(int64_t value);
  std::string buffer_;
};

}  // namespace plantmesh::telemetry
