#include "plantmesh/common/mutex_settings.h"

#include "absl/synchronization/mutex.h"

namespace plantmesh::common {

void UseReleaseMutexSettings() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace plantmesh::common
