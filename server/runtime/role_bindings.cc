#include "server/runtime/role_bindings.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace plantmesh::runtime {
namespace {

// Said at every load: where roles add up across bindings (RoleBindings::Overlaps).
void LogOverlaps(const std::string& path, const RoleBindings& bindings) {
  for (const std::string& overlap : bindings.Overlaps()) {
    spdlog::warn("role bindings {}: {}", path, overlap);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RoleBindingStore>> RoleBindingStore::Open(std::string path,
                                                                         absl::Duration poll,
                                                                         std::string trust_domain) {
  absl::StatusOr<std::string> text = ReadRoleBindingFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(*text, trust_domain);
  if (!bindings.ok()) return bindings.status();
  std::unique_ptr<RoleBindingStore> store(new RoleBindingStore());
  store->path_ = std::move(path);
  store->trust_domain_ = std::move(trust_domain);
  {
    absl::MutexLock lock(&store->mu_);
    store->current_ = std::make_shared<const RoleBindings>(*std::move(bindings));
    store->last_text_ = *std::move(text);
  }
  LogOverlaps(store->path_, *store->Current());
  store->generation_ = 1;
  store->poller_ = std::thread([raw = store.get(), poll] { raw->PollLoop(poll); });
  return store;
}

std::unique_ptr<RoleBindingStore> RoleBindingStore::Fixed(RoleBindings bindings) {
  std::unique_ptr<RoleBindingStore> store(new RoleBindingStore());
  absl::MutexLock lock(&store->mu_);
  store->current_ = std::make_shared<const RoleBindings>(std::move(bindings));
  store->generation_ = 1;
  return store;
}

RoleBindingStore::~RoleBindingStore() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

std::shared_ptr<const RoleBindings> RoleBindingStore::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::Status RoleBindingStore::ReloadIfChanged() {
  if (path_.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadRoleBindingFile(path_);
  if (!text.ok()) {
    refused_.store(true);
    absl::MutexLock lock(&mu_);
    if (!last_text_.empty()) {  // reported once per disappearance
      spdlog::error("{}; keeping the previous role bindings", std::string(text.status().message()));
      last_text_.clear();
    }
    return text.status();
  }
  {
    absl::MutexLock lock(&mu_);
    if (*text == last_text_) return absl::OkStatus();
    last_text_ = *text;  // a bad version is reported once, not at every poll
  }
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(*text, trust_domain_);
  if (!bindings.ok()) {
    refused_.store(true);
    spdlog::error("role bindings {} not reloaded, keeping the previous ones: {}", path_,
                  std::string(bindings.status().message()));
    return bindings.status();
  }
  refused_.store(false);
  const size_t bindings_count = bindings->bindings().size();
  LogOverlaps(path_, *bindings);
  {
    absl::MutexLock lock(&mu_);
    current_ = std::make_shared<const RoleBindings>(*std::move(bindings));
  }
  generation_.fetch_add(1);
  spdlog::info("role bindings reloaded from {}: {} bindings", path_, bindings_count);
  return absl::OkStatus();
}

void RoleBindingStore::PollLoop(absl::Duration poll) {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    mu_.AwaitWithTimeout(absl::Condition(&stop_), poll);
    if (stop_) break;
    mu_.Unlock();
    ReloadIfChanged().IgnoreError();
    mu_.Lock();
  }
}

}  // namespace plantmesh::runtime
