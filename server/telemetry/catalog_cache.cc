#include "server/telemetry/catalog_cache.h"

namespace plantmesh::telemetry {

std::optional<KnownCatalog> CatalogCache::Known(const MachineIds& machines,
                                                const DataItemKeys& items) const {
  if (!version_) return std::nullopt;
  KnownCatalog known;
  known.version = *version_;
  for (const std::string& machine : machines) {
    auto it = machines_.find(machine);
    if (it == machines_.end()) return std::nullopt;
    if (it->second) known.catalog.try_emplace(machine);
  }
  for (const auto& key : items) {
    auto it = items_.find(key);
    if (it == items_.end()) return std::nullopt;
    if (it->second) known.catalog[key.first][key.second] = *it->second;
  }
  return known;
}

void CatalogCache::Record(int64_t version, const MachineIds& machines, const DataItemKeys& items,
                          const Catalog& found) {
  if (version_ != version || size() + machines.size() + items.size() > max_entries_) {
    machines_.clear();
    items_.clear();
    version_ = version;
  }
  for (const std::string& machine : machines) machines_[machine] = found.count(machine) != 0;
  for (const auto& key : items) {
    std::optional<CatalogItem>& entry = items_[key];
    entry.reset();
    auto machine = found.find(key.first);
    if (machine == found.end()) continue;
    auto item = machine->second.find(key.second);
    if (item != machine->second.end()) entry = item->second;
  }
}

}  // namespace plantmesh::telemetry
