#include "server/telemetry/copy_binary.h"

#include <string>

#include "gtest/gtest.h"

namespace plantmesh::telemetry {
namespace {

TEST(CopyBinaryWriterTest, HeaderRowAndTrailerInPostgresFormat) {
  CopyBinaryWriter writer;
  writer.BeginRow(4);
  writer.AddText("ab");
  writer.AddNull();
  writer.AddInt16(-2);
  writer.AddTimestamp(absl::FromUnixSeconds(946684800) + absl::Microseconds(1));
  const std::string& out = writer.Finish();
  const std::string expected = std::string("PGCOPY\n\377\r\n\0", 11) +
                               std::string("\0\0\0\0\0\0\0\0", 8) +    // flags, extension
                               std::string("\0\x04", 2) +              // 4 fields
                               std::string("\0\0\0\x02", 4) + "ab" +   // text
                               std::string("\xff\xff\xff\xff", 4) +    // NULL
                               std::string("\0\0\0\x02\xff\xfe", 6) +  // int2 -2
                               std::string("\0\0\0\x08", 4) +
                               std::string("\0\0\0\0\0\0\0\x01", 8) +  // 2000-01-01 + 1 us
                               std::string("\xff\xff", 2);             // trailer
  EXPECT_EQ(out, expected);
}

TEST(CopyBinaryWriterTest, Float8IsBigEndianIeee) {
  CopyBinaryWriter writer;
  const size_t header = writer.size();
  writer.AddFloat8(1.0);
  EXPECT_EQ(writer.Finish().substr(header, 12), std::string("\0\0\0\x08\x3f\xf0\0\0\0\0\0\0", 12));
}

}  // namespace
}  // namespace plantmesh::telemetry
