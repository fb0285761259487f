// A background writer for e2e scenarios: reports a defect every `period` (VINs
// "<vin_prefix><n>") until stopped, and remembers what was acknowledged and what failed.
#pragma once

#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plantmesh/defect/v1/defect_service.pm_client.h"

namespace plantmesh::e2e {

class DefectWriter {
 public:
  DefectWriter(sdk::DefectClient client, absl::Duration period, std::string vin_prefix);
  ~DefectWriter();  // Stop()
  DefectWriter(const DefectWriter&) = delete;
  DefectWriter& operator=(const DefectWriter&) = delete;

  void Stop();
  // Ids of the acknowledged reports, in order.
  std::vector<std::string> acknowledged();
  // Failed reports' statuses, described.
  std::vector<std::string> failures();
  // Waits until more than `count` reports were acknowledged; false after `timeout`.
  bool AwaitMoreThan(size_t count, absl::Duration timeout);

 private:
  sdk::DefectClient client_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> acknowledged_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace plantmesh::e2e
