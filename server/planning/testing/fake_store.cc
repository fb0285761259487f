#include "server/planning/testing/fake_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"

namespace plantmesh::planning::testing {
namespace {

template <typename T>
std::string Encode(const ResponseEncoder<T>& encode, const T& value) {
  return encode ? encode(value) : std::string();
}

bool InDates(absl::CivilDay day, absl::CivilDay from, absl::CivilDay to) {
  return from <= day && day <= to;
}

// UpdateLine's and UpdateProduct's change of the row `id` of `rows`: the updater's
// value, written when its version moved (else nothing changes), or `not_found`.
template <typename T>
absl::StatusOr<T> UpdateRow(std::map<std::string, T>& rows, const std::string& id,
                            const Updater<T>& update,
                            absl::Status (*not_found)(absl::string_view)) {
  auto it = rows.find(id);
  if (it == rows.end()) return not_found(id);
  PM_ASSIGN_OR_RETURN(T after, update(it->second));
  if (after.version != it->second.version) it->second = after;
  return after;
}

}  // namespace

std::vector<runtime::OutboxEvent> FakePlanningStore::Events() const {
  absl::ReaderMutexLock lock(&mu_);
  return events_;
}

std::vector<runtime::AuditRecord> FakePlanningStore::AuditRows() const {
  absl::ReaderMutexLock lock(&mu_);
  return audit_rows_;
}

template <typename T, typename Change>
absl::StatusOr<Replayable<T>> FakePlanningStore::Idempotent(const ChangeContext& context,
                                                            const ResponseEncoder<T>& encode,
                                                            Change change,
                                                            const std::string& resource) {
  Replayable<T> result;
  PM_ASSIGN_OR_RETURN(std::optional<runtime::testing::MemoryRequestLog::Entry> seen,
                      request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  // `change` checks everything before it writes anything: an error leaves no trace.
  PM_ASSIGN_OR_RETURN(T stored, change());
  request_log_.Record(context.request, Encode(encode, stored),
                      resource.empty() ? ChangedResource(stored) : resource);
  if (context.audit != nullptr && !context.audit->written()) {
    audit_rows_.push_back(context.audit->Row(context.now));
    context.audit->MarkWritten();
  }
  result.value = std::move(stored);
  return result;
}

absl::StatusOr<Replayable<Line>> FakePlanningStore::CreateLine(
    const Line& line, const ChangeContext& context, const ResponseEncoder<Line>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Line>(context, encode, [&]() -> absl::StatusOr<Line> {
    if (lines_.count(line.id) > 0) return runtime::ResourceExists("line", line.id);
    if (patterns_.count(line.shift_pattern_id) == 0) {
      return UnknownReference("line.shift_pattern_id", "shift pattern", line.shift_pattern_id);
    }
    lines_[line.id] = line;
    return line;
  });
}

absl::StatusOr<Replayable<Line>> FakePlanningStore::UpdateLine(
    const std::string& id, const ChangeContext& context, const Updater<Line>& update,
    const ResponseEncoder<Line>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Line>(context, encode, [&]() -> absl::StatusOr<Line> {
    return UpdateRow(lines_, id, update, LineNotFound);
  });
}

absl::StatusOr<std::optional<Line>> FakePlanningStore::FindLine(const std::string& id) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = lines_.find(id);
  if (it == lines_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<Line>> FakePlanningStore::ListLines(const std::string& area) {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Line> out;
  for (const auto& [id, line] : lines_) {
    if (area.empty() || line.area == area) out.push_back(line);
  }
  return out;
}

absl::StatusOr<Replayable<Product>> FakePlanningStore::CreateProduct(
    const Product& product, const ChangeContext& context, const ResponseEncoder<Product>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Product>(context, encode, [&]() -> absl::StatusOr<Product> {
    if (products_.count(product.id) > 0) return runtime::ResourceExists("product", product.id);
    products_[product.id] = product;
    return product;
  });
}

absl::StatusOr<Replayable<Product>> FakePlanningStore::UpdateProduct(
    const std::string& id, const ChangeContext& context, const Updater<Product>& update,
    const ResponseEncoder<Product>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Product>(context, encode, [&]() -> absl::StatusOr<Product> {
    return UpdateRow(products_, id, update, ProductNotFound);
  });
}

absl::StatusOr<std::optional<Product>> FakePlanningStore::FindProduct(const std::string& id) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = products_.find(id);
  if (it == products_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ProductRecords> FakePlanningStore::RecordsOfProduct(const std::string& id) {
  absl::ReaderMutexLock lock(&mu_);
  ProductRecords records;
  for (const auto& [plan_id, plan] : plans_) {
    const bool names = std::any_of(plan.items.begin(), plan.items.end(),
                                   [&](const PlanItem& item) { return item.product_id == id; });
    if (!names) continue;
    ++records.plans;
    if (plan.status == PlanStatus::kClosed) continue;
    std::vector<int64_t>& open = records.open_plans_by_line[plan.line_id];
    if (open.size() < kMaxPlansNamed) open.push_back(plan_id);
  }
  for (const auto& [output_id, output] : outputs_) records.outputs += output.product_id == id;
  for (const auto& [key, quantity] : demand_) records.demand_days += key.first == id;
  return records;
}

absl::StatusOr<std::vector<Product>> FakePlanningStore::FindProducts(
    const std::set<std::string>& ids) {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Product> out;
  for (const std::string& id : ids) {
    if (auto it = products_.find(id); it != products_.end()) out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<std::vector<Product>> FakePlanningStore::ListProducts() {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Product> out;
  for (const auto& [id, product] : products_) out.push_back(product);
  return out;
}

absl::StatusOr<std::set<std::string>> FakePlanningStore::ExistingIds(
    Catalog catalog, const std::set<std::string>& ids) {
  absl::ReaderMutexLock lock(&mu_);
  std::set<std::string> out;
  for (const std::string& id : ids) {
    const bool exists = catalog == Catalog::kLines      ? lines_.count(id) > 0
                        : catalog == Catalog::kProducts ? products_.count(id) > 0
                                                        : crews_.count(id) > 0;
    if (exists) out.insert(id);
  }
  return out;
}

absl::StatusOr<std::set<std::string>> FakePlanningStore::ProductIds() {
  absl::ReaderMutexLock lock(&mu_);
  std::set<std::string> out;
  for (const auto& [id, product] : products_) out.insert(id);
  return out;
}

absl::StatusOr<Replayable<Crew>> FakePlanningStore::CreateCrew(
    const Crew& crew, const ChangeContext& context, const ResponseEncoder<Crew>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Crew>(context, encode, [&]() -> absl::StatusOr<Crew> {
    if (crews_.count(crew.id) > 0) return runtime::ResourceExists("crew", crew.id);
    crews_[crew.id] = crew;
    return crew;
  });
}

absl::StatusOr<std::vector<Crew>> FakePlanningStore::ListCrews() {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Crew> out;
  for (const auto& [id, crew] : crews_) out.push_back(crew);
  return out;
}

absl::StatusOr<Replayable<ShiftPattern>> FakePlanningStore::CreateShiftPattern(
    const ShiftPattern& pattern, const ChangeContext& context,
    const ResponseEncoder<ShiftPattern>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<ShiftPattern>(context, encode, [&]() -> absl::StatusOr<ShiftPattern> {
    if (patterns_.count(pattern.id) > 0)
      return runtime::ResourceExists("shift pattern", pattern.id);
    patterns_[pattern.id] = pattern;
    return pattern;
  });
}

absl::StatusOr<std::optional<ShiftPattern>> FakePlanningStore::FindShiftPattern(
    const std::string& id) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = patterns_.find(id);
  if (it == patterns_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<ShiftPattern>> FakePlanningStore::ListShiftPatterns() {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<ShiftPattern> out;
  for (const auto& [id, pattern] : patterns_) out.push_back(pattern);
  return out;
}

absl::StatusOr<Replayable<Holiday>> FakePlanningStore::CreateHoliday(
    const Holiday& holiday, const ChangeContext& context, const ResponseEncoder<Holiday>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Holiday>(context, encode, [&]() -> absl::StatusOr<Holiday> {
    DayRecords records;
    for (const auto& [id, plan] : plans_) records.plans += plan.shift_date == holiday.date;
    for (const auto& [id, o] : outputs_) records.outputs += o.shift_date == holiday.date;
    for (const auto& [id, d] : downtimes_) records.downtimes += d.shift_date == holiday.date;
    if (records.Any()) return DayHasProductionRecords(holiday.date, records);
    if (holidays_.count(holiday.date) > 0)
      return runtime::ResourceExists("holiday", FormatDate(holiday.date));
    holidays_[holiday.date] = holiday;
    return holiday;
  });
}

absl::Status FakePlanningStore::WorkedDay(absl::CivilDay date, const std::string& shift_id) {
  if (holidays_.count(date) > 0) return ShiftOnHoliday(shift_id, date);
  return absl::OkStatus();
}

absl::StatusOr<Replayable<Holiday>> FakePlanningStore::DeleteHoliday(
    absl::CivilDay date, const ChangeContext& context, const ResponseEncoder<Holiday>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Holiday>(context, encode, [&]() -> absl::StatusOr<Holiday> {
    auto it = holidays_.find(date);
    if (it == holidays_.end()) return HolidayNotFound(date);
    Holiday deleted = it->second;
    holidays_.erase(it);
    return deleted;
  });
}

absl::StatusOr<std::vector<Holiday>> FakePlanningStore::ListHolidays(absl::CivilDay from,
                                                                     absl::CivilDay to) {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Holiday> out;
  for (const auto& [day, holiday] : holidays_) {
    if (InDates(day, from, to)) out.push_back(holiday);
  }
  return out;
}

absl::StatusOr<Replayable<MaintenanceWindow>> FakePlanningStore::CreateMaintenanceWindow(
    const MaintenanceWindow& window, const ChangeContext& context,
    const ResponseEncoder<MaintenanceWindow>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<MaintenanceWindow>(context, encode, [&]() -> absl::StatusOr<MaintenanceWindow> {
    if (lines_.count(window.line_id) == 0) {
      return UnknownReference("maintenance_window.line_id", "line", window.line_id);
    }
    MaintenanceWindow stored = window;
    stored.id = ++last_id_;
    stored.start = TruncateToMicros(window.start);
    stored.end = TruncateToMicros(window.end);
    maintenance_[stored.id] = stored;
    return stored;
  });
}

absl::StatusOr<Replayable<MaintenanceWindow>> FakePlanningStore::DeleteMaintenanceWindow(
    int64_t id, const ChangeContext& context, const ResponseEncoder<MaintenanceWindow>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<MaintenanceWindow>(context, encode, [&]() -> absl::StatusOr<MaintenanceWindow> {
    auto it = maintenance_.find(id);
    if (it == maintenance_.end()) return MaintenanceWindowNotFound(id);
    MaintenanceWindow deleted = it->second;
    maintenance_.erase(it);
    return deleted;
  });
}

absl::StatusOr<std::vector<MaintenanceWindow>> FakePlanningStore::ListMaintenanceWindows(
    const std::string& line_id, absl::Time from, absl::Time to) {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<MaintenanceWindow> out;
  for (const auto& [id, w] : maintenance_) {
    if (w.line_id == line_id && w.start < to && from < w.end) out.push_back(w);
  }
  std::stable_sort(
      out.begin(), out.end(),
      [](const MaintenanceWindow& a, const MaintenanceWindow& b) { return a.start < b.start; });
  return out;
}

absl::StatusOr<Replayable<Plan>> FakePlanningStore::CreatePlan(
    const Plan& plan, const ChangeContext& context, const ResponseEncoder<Plan>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Plan>(context, encode, [&]() -> absl::StatusOr<Plan> {
    PM_RETURN_IF_ERROR(WorkedDay(plan.shift_date, plan.shift_id));
    for (const auto& [id, other] : plans_) {
      if (other.line_id == plan.line_id && other.shift_id == plan.shift_id) {
        return PlanOfShiftExists(id, plan.line_id, plan.shift_id);
      }
    }
    Plan stored = plan;
    stored.id = ++last_id_;
    plans_[stored.id] = stored;
    return stored;
  });
}

absl::StatusOr<Replayable<std::vector<Plan>>> FakePlanningStore::CreatePlans(
    const std::vector<Plan>& plans, const ChangeContext& context,
    const ResponseEncoder<std::vector<Plan>>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<std::vector<Plan>>(context, encode, [&]() -> absl::StatusOr<std::vector<Plan>> {
    // Every check before the first write: an error writes nothing.
    for (const Plan& plan : plans) {
      PM_RETURN_IF_ERROR(WorkedDay(plan.shift_date, plan.shift_id));
      for (const auto& [id, other] : plans_) {
        if (other.line_id == plan.line_id && other.shift_id == plan.shift_id) {
          return PlanExists(id, plan.line_id, plan.shift_id);
        }
      }
    }
    std::vector<Plan> stored;
    for (const Plan& plan : plans) {
      Plan s = plan;
      s.id = ++last_id_;
      plans_[s.id] = s;
      stored.push_back(std::move(s));
    }
    return stored;
  });
}

absl::StatusOr<std::optional<std::string>> FakePlanningStore::RecordedResponse(
    const runtime::IdempotencyKey& key) {
  absl::ReaderMutexLock lock(&mu_);
  PM_ASSIGN_OR_RETURN(std::optional<runtime::testing::MemoryRequestLog::Entry> entry,
                      request_log_.Claim(key));
  if (!entry) return std::nullopt;
  return entry->response;
}

absl::StatusOr<Plan> FakePlanningStore::GetPlan(int64_t id) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = plans_.find(id);
  if (it == plans_.end()) return PlanNotFound(id);
  return it->second;
}

absl::StatusOr<PlanPage> FakePlanningStore::ListPlans(const PlanQuery& query) {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Plan> matching;
  for (const auto& [id, p] : plans_) {
    if (!query.line_id.empty() && p.line_id != query.line_id) continue;
    if (!query.statuses.empty() &&
        std::find(query.statuses.begin(), query.statuses.end(), p.status) == query.statuses.end()) {
      continue;
    }
    if (query.from_date && p.shift_date < *query.from_date) continue;
    if (query.to_date && *query.to_date < p.shift_date) continue;
    if (query.after && std::make_pair(p.shift_start, p.id) <= *query.after) continue;
    matching.push_back(p);
  }
  std::sort(matching.begin(), matching.end(), [](const Plan& a, const Plan& b) {
    return std::make_pair(a.shift_start, a.id) < std::make_pair(b.shift_start, b.id);
  });
  PlanPage page;
  page.more = static_cast<int>(matching.size()) > query.page_size;
  if (page.more) matching.resize(query.page_size);
  page.plans = std::move(matching);
  return page;
}

absl::StatusOr<Replayable<Plan>> FakePlanningStore::MutatePlan(
    int64_t id, const ChangeContext& context, const PlanMutator& mutator,
    const EventEncoder<PlanChange>& event, const ResponseEncoder<Plan>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<Plan>(context, encode, [&]() -> absl::StatusOr<Plan> {
    auto it = plans_.find(id);
    if (it == plans_.end()) return PlanNotFound(id);
    PM_ASSIGN_OR_RETURN(PlanChange change, mutator(it->second));
    if (change.after.version == it->second.version) return change.after;  // nothing to change
    it->second = change.after;
    if (change.revision) revisions_[id].push_back(*change.revision);
    if (event) events_.push_back(event(change));
    return change.after;
  });
}

absl::StatusOr<std::vector<PlanRevision>> FakePlanningStore::ListRevisions(int64_t plan_id,
                                                                           int64_t after_revision,
                                                                           size_t limit) {
  absl::ReaderMutexLock lock(&mu_);
  if (plans_.count(plan_id) == 0) return PlanNotFound(plan_id);
  std::vector<PlanRevision> page;
  auto it = revisions_.find(plan_id);
  if (it == revisions_.end()) return page;
  for (const PlanRevision& revision : it->second) {
    if (page.size() >= limit) break;
    if (revision.revision > after_revision) page.push_back(revision);
  }
  return page;
}

absl::StatusOr<Replayable<OutputRecord>> FakePlanningStore::RecordOutput(
    const OutputRecord& output, const ChangeContext& context,
    const EventEncoder<OutputRecord>& event, const ResponseEncoder<OutputRecord>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<OutputRecord>(context, encode, [&]() -> absl::StatusOr<OutputRecord> {
    PM_RETURN_IF_ERROR(WorkedDay(output.shift_date, output.shift_id));
    OutputRecord stored = output;
    stored.id = ++last_id_;
    stored.record_time = TruncateToMicros(output.record_time);
    outputs_[stored.id] = stored;
    if (event) events_.push_back(event(stored));
    return stored;
  });
}

absl::StatusOr<Replayable<DowntimeEntry>> FakePlanningStore::RecordDowntime(
    const DowntimeEntry& entry, const ChangeContext& context,
    const std::function<absl::Status(int64_t recorded_minutes)>& admit,
    const EventEncoder<DowntimeEntry>& event, const ResponseEncoder<DowntimeEntry>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<DowntimeEntry>(context, encode, [&]() -> absl::StatusOr<DowntimeEntry> {
    PM_RETURN_IF_ERROR(WorkedDay(entry.shift_date, entry.shift_id));
    int64_t recorded = 0;
    for (const auto& [id, d] : downtimes_) {
      if (d.line_id == entry.line_id && d.shift_id == entry.shift_id) {
        recorded += d.duration_minutes;
      }
    }
    PM_RETURN_IF_ERROR(admit(recorded));
    DowntimeEntry stored = entry;
    stored.id = ++last_id_;
    stored.record_time = TruncateToMicros(entry.record_time);
    downtimes_[stored.id] = stored;
    if (event) events_.push_back(event(stored));
    return stored;
  });
}

absl::StatusOr<ActualsFacts> FakePlanningStore::ActualsOf(const std::string& line_id,
                                                          absl::CivilDay from, absl::CivilDay to) {
  absl::ReaderMutexLock lock(&mu_);
  ActualsFacts facts;
  auto wanted = [&](const std::string& line, absl::CivilDay day) {
    return (line_id.empty() || line == line_id) && InDates(day, from, to);
  };
  for (const auto& [id, p] : plans_) {
    if (wanted(p.line_id, p.shift_date)) facts.plans.push_back(p);
  }
  for (const auto& [id, o] : outputs_) {
    if (wanted(o.line_id, o.shift_date)) facts.outputs.push_back(o);
  }
  for (const auto& [id, d] : downtimes_) {
    if (wanted(d.line_id, d.shift_date)) facts.downtimes.push_back(d);
  }
  return facts;
}

}  // namespace plantmesh::planning::testing

// ---- demand (pdemand) ----
namespace plantmesh::planning::testing {

absl::StatusOr<Replayable<DemandWriteCounts>> FakePlanningStore::ImportDemand(
    const std::vector<DemandRecord>& records, const ChangeContext& context,
    const ResponseEncoder<DemandWriteCounts>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<DemandWriteCounts>(
      context, encode,
      [&]() -> absl::StatusOr<DemandWriteCounts> {
        for (const DemandRecord& r : records) {
          if (products_.count(r.product_id) == 0) {
            return UnknownReference("records", "product", r.product_id);
          }
        }
        DemandWriteCounts counts;
        for (const DemandRecord& r : records) {
          auto [at, inserted] = demand_.insert_or_assign({r.product_id, r.day}, r.quantity);
          (void)at;
          ++(inserted ? counts.stored : counts.replaced);
        }
        return counts;
      },
      DemandResource());
}

absl::StatusOr<Replayable<int64_t>> FakePlanningStore::DeleteDemand(
    const std::string& product_id, absl::CivilDay from, absl::CivilDay to,
    const ChangeContext& context, const ResponseEncoder<int64_t>& encode) {
  absl::MutexLock lock(&mu_);
  return Idempotent<int64_t>(
      context, encode,
      [&]() -> absl::StatusOr<int64_t> {
        if (products_.count(product_id) == 0) {
          return UnknownReference("product_id", "product", product_id);
        }
        const auto first = demand_.lower_bound({product_id, from});
        const auto last = demand_.upper_bound({product_id, to});
        const auto deleted = std::distance(first, last);
        demand_.erase(first, last);
        return static_cast<int64_t>(deleted);
      },
      DemandResource(product_id));
}

absl::StatusOr<std::vector<ProductDemandHistory>> FakePlanningStore::DemandHistory(
    const std::vector<std::string>& product_ids, int days, absl::CivilDay through) {
  absl::ReaderMutexLock lock(&mu_);
  const std::set<std::string> wanted(product_ids.begin(), product_ids.end());
  std::map<std::string, absl::CivilDay> last;  // demand_ is ordered by product, then day
  for (const auto& [key, quantity] : demand_) {
    if (key.second <= through) last[key.first] = key.second;
  }
  std::vector<ProductDemandHistory> out;
  for (const auto& [key, quantity] : demand_) {
    if (!wanted.empty() && wanted.count(key.first) == 0) continue;
    if (key.second > through) continue;
    if (last.at(key.first) - key.second >= days) continue;
    if (out.empty() || out.back().product_id != key.first) out.push_back({key.first, {}});
    out.back().days.push_back({key.second, quantity});
  }
  return out;
}

}  // namespace plantmesh::planning::testing
