#include "server/runtime/chunked_transfer.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/sha256.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> FieldsOf(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const FieldViolation& v : FieldViolationsOf(status)) fields.push_back(v.field);
  return fields;
}

std::string Pattern(size_t n) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(i * 31 % 251);
  return bytes;
}

TEST(ChunkedUploadTest, ReceivesTheDeclaredBytesAndChecksTheirDigest) {
  MemoryBudget budget(1 << 20);
  const std::string bytes = Pattern(1000);
  ChunkedUpload upload(&budget);
  upload.Declare(bytes.size());
  for (size_t offset = 0; offset < bytes.size(); offset += 300) {
    ASSERT_TRUE(upload.Append(absl::string_view(bytes).substr(offset, 300)).ok());
  }
  EXPECT_EQ(upload.received(), 1000u);
  EXPECT_TRUE(upload.Finish(common::Sha256Hex(bytes)).ok());
  // Charged by what the buffer holds: never beyond the declared size.
  EXPECT_GT(budget.used(), 0);
  EXPECT_LE(budget.used(), 1000);
  EXPECT_EQ(upload.TakeBytes(), bytes);
}

TEST(ChunkedUploadTest, SizeAndDigestMismatchesNameTheirFields) {
  const std::string bytes = Pattern(10);
  {
    ChunkedUpload upload(nullptr);
    upload.Declare(9);
    absl::Status more = upload.Append(bytes);
    EXPECT_EQ(more.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(FieldsOf(more), ElementsAre("metadata.size_bytes"));
    EXPECT_THAT(more.message(), HasSubstr("more bytes arrived than the declared 9"));
    EXPECT_EQ(upload.received(), 0u);  // nothing kept
  }
  {
    ChunkedUpload upload(nullptr);
    upload.Declare(11);
    ASSERT_TRUE(upload.Append(bytes).ok());
    absl::Status fewer = upload.Finish(common::Sha256Hex(bytes));
    EXPECT_THAT(FieldsOf(fewer), ElementsAre("metadata.size_bytes"));
    EXPECT_THAT(fewer.message(), HasSubstr("declared 11 bytes, received 10"));
  }
  {
    UploadFields fields;
    fields.sha256 = "upload.digest";
    ChunkedUpload upload(nullptr, fields);
    upload.Declare(10);
    ASSERT_TRUE(upload.Append(bytes).ok());
    absl::Status wrong = upload.Finish(common::Sha256Hex("other"));
    EXPECT_THAT(FieldsOf(wrong), ElementsAre("upload.digest"));
    EXPECT_THAT(wrong.message(),
                HasSubstr(absl::StrCat("their SHA-256 is ", common::Sha256Hex(bytes))));
  }
}

TEST(ChunkedUploadTest, ChunksLargerThanTheLimitAreRefused) {
  ChunkedUpload upload(nullptr);
  upload.Declare(4 * kMaxUploadChunkBytes);
  absl::Status big = upload.Append(std::string(kMaxUploadChunkBytes + 1, 'x'));
  EXPECT_THAT(FieldsOf(big), ElementsAre("chunk"));
  EXPECT_THAT(big.message(), HasSubstr("at most 1048576 bytes per chunk (got 1048577)"));
  EXPECT_TRUE(upload.Append(std::string(kMaxUploadChunkBytes, 'x')).ok());
}

// The budget is charged by bytes received, refused beyond it, and paid back when the
// upload goes away.
TEST(ChunkedUploadTest, ChargesTheBudgetByBytesReceived) {
  MemoryBudget budget(1000);
  {
    ChunkedUpload idle(&budget);
    idle.Declare(1000);  // declared only: holds nothing
    EXPECT_EQ(budget.used(), 0);
    ChunkedUpload first(&budget);
    first.Declare(600);
    ASSERT_TRUE(first.Append(std::string(600, 'a')).ok());
    EXPECT_EQ(budget.used(), 600);
    ChunkedUpload second(&budget);
    second.Declare(600);
    ASSERT_TRUE(second.Append(std::string(300, 'b')).ok());
    absl::Status refused = second.Append(std::string(300, 'b'));
    EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
    EXPECT_EQ(second.received(), 300u);  // the refused chunk was not kept
    EXPECT_LE(budget.used(), 1000);
  }
  EXPECT_EQ(budget.used(), 0);
}

// Outside testing (sweep 46): with the buffer doubling, an upload held 6.4 MB for 6.0 MB
// received, and a second one was refused at 3.2 MB of a 12 MiB budget. A buffer holds at
// most one growth step more than it received.
TEST(ChunkedUploadTest, ConcurrentUploadsUseTheBudgetUpToOneStepEach) {
  MemoryBudget budget(12 * 1024 * 1024);
  const std::string chunk(100'000, 'x');
  ChunkedUpload stalled(&budget);
  stalled.Declare(8'000'000);
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(stalled.Append(chunk).ok()) << i;
  EXPECT_LE(budget.used(), 6'000'000 + static_cast<int64_t>(kUploadGrowthBytes));
  ChunkedUpload second(&budget);
  second.Declare(8'000'000);
  while (second.Append(chunk).ok()) {
  }
  EXPECT_GE(second.received(), 6'000'000u - kUploadGrowthBytes);
  EXPECT_LE(budget.used(), 12 * 1024 * 1024);
}

TEST(ChunkedDownloadTest, CutsIntoChunksOfTheGivenSize) {
  auto bytes = std::make_shared<const std::string>(Pattern(2 * kDownloadChunkBytes + 17));
  ChunkedDownload download(bytes);
  std::string received;
  int chunks = 0;
  while (std::optional<absl::string_view> chunk = download.Next()) {
    EXPECT_LE(chunk->size(), kDownloadChunkBytes);
    received.append(chunk->data(), chunk->size());
    ++chunks;
  }
  EXPECT_EQ(received, *bytes);
  EXPECT_EQ(chunks, 3);
  EXPECT_FALSE(download.Next().has_value());

  ChunkedDownload empty(std::make_shared<const std::string>());
  EXPECT_FALSE(empty.Next().has_value());
  ChunkedDownload small(std::make_shared<const std::string>("abcdefg"), 3);
  EXPECT_EQ(*small.Next(), "abc");
  EXPECT_EQ(*small.Next(), "def");
  EXPECT_EQ(*small.Next(), "g");
  EXPECT_FALSE(small.Next().has_value());
}

}  // namespace
}  // namespace plantmesh::runtime
