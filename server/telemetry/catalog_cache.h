// What an ingest replica remembers of the catalog (which machines are registered, their
// data items' categories and types) as of one catalog version, so that a transaction
// whose batches name only what it remembers reads the version instead of the catalog.
// Reading ~300 data items cost ~1.9 ms a transaction at 100 samples a message (B2,
// bench/README.md).
//
// The version is the id of the last transaction that wrote machines or data items
// (migration 0008_catalog_version.sql): a committed catalog has one version and a
// version one catalog, so equal versions mean the same catalog. Versions are not
// ordered (transactions commit out of id order): another version replaces what is
// remembered. Absences are remembered too: an unknown machine or item stays unknown
// until the version moves. Not thread-safe: the store guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "server/telemetry/domain.h"

namespace plantmesh::telemetry {

// Machine ids, and (machine id, data item id) pairs.
using MachineIds = std::set<std::string>;
using DataItemKeys = std::set<std::pair<std::string, std::string>>;

// The version and catalog a read would give for the ids, when the cache knows them all.
struct KnownCatalog {
  int64_t version = 0;
  Catalog catalog;  // the registered machines among the ids, with the registered items
};

class CatalogCache {
 public:
  // `max_entries`: machines and items remembered at most; beyond, it starts again empty
  // (ids a client makes up are remembered as unknown: this bounds them).
  explicit CatalogCache(size_t max_entries = size_t{1} << 20) : max_entries_(max_entries) {}

  // What a catalog read of `machines` and `items` returned at the remembered version,
  // when every one of them is remembered; nullopt otherwise.
  std::optional<KnownCatalog> Known(const MachineIds& machines, const DataItemKeys& items) const;

  // Remembers what a read at `version` found: `found` holds the registered machines of
  // `machines` and the registered items of `items`; the others are unknown. What was
  // remembered at another version is forgotten first.
  void Record(int64_t version, const MachineIds& machines, const DataItemKeys& items,
              const Catalog& found);

  size_t size() const { return machines_.size() + items_.size(); }

 private:
  size_t max_entries_;
  std::optional<int64_t> version_;
  std::map<std::string, bool> machines_;  // registered?
  std::map<std::pair<std::string, std::string>, std::optional<CatalogItem>> items_;
};

}  // namespace plantmesh::telemetry
