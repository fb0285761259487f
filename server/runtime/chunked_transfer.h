// Bytes streamed in chunks: an upload received chunk by chunk up to the size its first
// message declared, charged to a process-wide MemoryBudget by bytes actually received
// and checked against the SHA-256 the client sent; a download cut into chunks made one
// at a time, as the client has room.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "plantmesh/common/sha256.h"
#include "server/runtime/memory_budget.h"

namespace plantmesh::runtime {

// The largest chunk an upload message may carry (bytes).
inline constexpr size_t kMaxUploadChunkBytes = 1024 * 1024;
// How much an upload's buffer grows at a time (bytes): what it may hold, and be charged,
// beyond the bytes received.
inline constexpr size_t kUploadGrowthBytes = 1024 * 1024;
// The chunk a download sends (bytes): small enough to interleave with other streams.
inline constexpr size_t kDownloadChunkBytes = 64 * 1024;

// The request fields an upload's errors name.
struct UploadFields {
  std::string chunk = "chunk";                     // one chunk's bytes
  std::string size_bytes = "metadata.size_bytes";  // the declared size
  std::string sha256 = "metadata.sha256";          // the declared digest (lowercase hex)
};

// One upload's bytes so far. Memory is never set aside for the declared size: the
// buffer grows (doubling up to kUploadGrowthBytes, then by that much, at most to the
// declared size) with the bytes that arrive, and its capacity is what is charged to the budget, so
// streams that send only metadata hold nothing and a stream holds at most one step more than it
// received. The charge is returned when the upload is destroyed, however the call ends.
class ChunkedUpload {
 public:
  // `budget`: the process-wide budget (nullptr: unlimited), which outlives this.
  explicit ChunkedUpload(MemoryBudget* budget, UploadFields fields = {});

  // The size the client declared (checked against the service's limit by the caller).
  void Declare(size_t declared_bytes) { declared_ = declared_bytes; }

  // Appends one chunk. INVALID_ARGUMENT naming fields.chunk when it is larger than
  // kMaxUploadChunkBytes, naming fields.size_bytes when more bytes arrived than declared;
  // RESOURCE_EXHAUSTED when the budget lacks the memory. Nothing is kept on error.
  absl::Status Append(absl::string_view chunk);

  // After the last chunk: INVALID_ARGUMENT naming fields.size_bytes when fewer bytes
  // arrived than declared, fields.sha256 when their SHA-256 is not `expected_sha256`.
  absl::Status Finish(absl::string_view expected_sha256) const;

  size_t received() const { return bytes_.size(); }
  // The bytes received so far (valid until the next Append or TakeBytes).
  absl::string_view received_bytes() const { return bytes_; }
  // The bytes received (the upload is empty afterwards; its charge stays until it is
  // destroyed, while the bytes are still being stored).
  std::string TakeBytes() { return std::move(bytes_); }

 private:
  UploadFields fields_;
  size_t declared_ = 0;
  MemoryBudget::Reservation held_;
  std::string bytes_;
  common::Sha256 sha_;
};

// A download of `bytes` in chunks of kDownloadChunkBytes (the last may be shorter).
class ChunkedDownload {
 public:
  explicit ChunkedDownload(std::shared_ptr<const std::string> bytes,
                           size_t chunk_bytes = kDownloadChunkBytes);
  // The next chunk, or nullopt when all were sent. The view lives as long as this.
  std::optional<absl::string_view> Next();

 private:
  std::shared_ptr<const std::string> bytes_;
  size_t chunk_bytes_;
  size_t offset_ = 0;
};

}  // namespace plantmesh::runtime
