#include "server/runtime/denial_budget.h"

#include <algorithm>

namespace plantmesh::runtime {
namespace {

// Identities are the CA's certificates, so few; past this many buckets the full ones
// (which hold nothing untold) are forgotten, so that the map cannot grow without bound.
constexpr size_t kMaxBuckets = 10000;

}  // namespace

bool DenialBudget::Admit(const std::string& identity, absl::Time now, int64_t* untold) {
  absl::MutexLock lock(&mu_);
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(identity)) {
    absl::erase_if(buckets_, [&](const auto& entry) {
      const Bucket& b = entry.second;
      return b.untold == 0 &&
             b.tokens + absl::ToDoubleSeconds(now - b.refilled) * per_second_ >= burst_;
    });
  }
  auto [it, created] = buckets_.try_emplace(identity);
  Bucket& bucket = it->second;
  if (created) {
    bucket.tokens = burst_;
  } else if (now > bucket.refilled) {
    bucket.tokens = std::min(
        burst_, bucket.tokens + absl::ToDoubleSeconds(now - bucket.refilled) * per_second_);
  }
  bucket.refilled = std::max(bucket.refilled, now);
  if (bucket.tokens < 1) {
    ++bucket.untold;
    return false;
  }
  bucket.tokens -= 1;
  *untold = bucket.untold;
  bucket.untold = 0;
  return true;
}

}  // namespace plantmesh::runtime
