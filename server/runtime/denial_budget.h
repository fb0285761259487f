// How many denied calls of one identity are logged and audited one by one: a token bucket
// per identity (`per_second`, bursts of `burst`). Outside testing: a certificate bound to no
// role wrote 4,000 audit rows and warning lines a second, each for a call it could not make,
// and kept that ability after its binding was removed. The denials past the budget are
// still refused and counted (grpc_server_handled_total); the next one written tells how
// many of the identity's were not.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plantmesh::runtime {

class DenialBudget {
 public:
  DenialBudget(double per_second, double burst) : per_second_(per_second), burst_(burst) {}

  // Whether this denial of `identity` at `now` is written. When it is, `*untold` is the
  // number of the identity's denials since the last one written that were not.
  bool Admit(const std::string& identity, absl::Time now, int64_t* untold);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
    int64_t untold = 0;
  };

  const double per_second_;
  const double burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plantmesh::runtime
