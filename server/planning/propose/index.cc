#include <algorithm>
#include <tuple>

#include "server/planning/propose/internal.h"

namespace plantmesh::planning::propose::internal {

Index::Index(const ProposalInput& in) : input(in) {
  for (size_t i = 0; i < in.products.size(); ++i) product[in.products[i].id] = static_cast<int>(i);
  demand.assign(in.products.size(), std::vector<int64_t>(in.period_count + 1, 0));
  for (const Demand& d : in.demand)
    demand[product.at(d.product_id)][d.due_period + 1] += d.quantity;
  absl::flat_hash_map<std::string, int> line_index;
  for (size_t l = 0; l < in.lines.size(); ++l) line_index[in.lines[l].id] = static_cast<int>(l);
  for (const ChangeoverTime& c : in.changeovers) {
    const int line = c.line_id.empty() ? -1 : line_index.at(c.line_id);
    changeover_[{line, product.at(c.from_product_id), product.at(c.to_product_id)}] = c.minutes;
  }
  // Pairs no entry lists take 0, so only listed pairs can be the longest.
  longest_into_.assign(in.lines.size(), std::vector<double>(in.products.size(), 0));
  for (size_t l = 0; l < in.lines.size(); ++l) {
    std::vector<bool> makes(in.products.size(), false);
    for (const LineProduct& lp : in.lines[l].products) makes[product.at(lp.product_id)] = true;
    for (const auto& [key, minutes] : changeover_) {
      const auto [line, from, to] = key;
      if ((line != -1 && line != static_cast<int>(l)) || from == to || !makes[from] || !makes[to]) {
        continue;
      }
      // The line's own entry for the pair wins over the one for every line.
      if (line == -1 && changeover_.contains({static_cast<int>(l), from, to})) continue;
      longest_into_[l][to] = std::max(longest_into_[l][to], minutes);
    }
  }
}

double Index::ChangeoverMinutes(int line, int from, int to) const {
  // From −1, a line set up for nothing: its first setup, 0 minutes as the contract says
  // (ProposedRun.changeover_minutes); the model reserves LongestInto for it all the same.
  if (from == to || from < 0) return 0;
  auto own = changeover_.find({line, from, to});
  if (own != changeover_.end()) return own->second;
  auto every = changeover_.find({-1, from, to});
  return every == changeover_.end() ? 0 : every->second;
}

Flow FlowOf(const Index& index, int p, const std::vector<int64_t>& produced) {
  const int periods = index.input.period_count;
  Flow flow;
  flow.stock_end.assign(periods, 0);
  flow.unmet.assign(periods + 1, 0);
  int64_t stock = index.input.products[p].stock_on_hand;
  for (int t = -1; t < periods; ++t) {
    if (t >= 0) stock += produced[t];
    const int64_t due = index.demand[p][t + 1];
    const int64_t met = std::min(stock, due);
    stock -= met;
    flow.unmet[t + 1] = due - met;
    if (t >= 0) flow.stock_end[t] = static_cast<double>(stock);
  }
  return flow;
}

std::vector<Component> ComponentsOf(const Index& index) {
  const ProposalInput& in = index.input;
  // Union-find over lines; products join the lines that make them.
  std::vector<int> parent(in.lines.size());
  for (size_t l = 0; l < parent.size(); ++l) parent[l] = static_cast<int>(l);
  auto root = [&](int l) {
    while (parent[l] != l) l = parent[l] = parent[parent[l]];
    return l;
  };
  std::vector<int> first_line(in.products.size(), -1);
  for (size_t l = 0; l < in.lines.size(); ++l) {
    for (const LineProduct& lp : in.lines[l].products) {
      int& first = first_line[index.product.at(lp.product_id)];
      if (first < 0) {
        first = static_cast<int>(l);
      } else {
        const int a = root(first), b = root(static_cast<int>(l));
        parent[std::max(a, b)] = std::min(a, b);
      }
    }
  }
  std::vector<Component> components;
  std::vector<int> at(in.lines.size(), -1);  // root → component
  for (size_t l = 0; l < in.lines.size(); ++l) {
    const int r = root(static_cast<int>(l));
    if (at[r] < 0) {
      at[r] = static_cast<int>(components.size());
      components.emplace_back();
    }
    components[at[r]].lines.push_back(static_cast<int>(l));
  }
  for (size_t p = 0; p < in.products.size(); ++p) {
    if (first_line[p] >= 0)
      components[at[root(first_line[p])]].products.push_back(static_cast<int>(p));
  }
  return components;
}

std::vector<std::vector<double>> PlannedMinutes(const Index& index) {
  const ProposalInput& in = index.input;
  std::vector<std::vector<double>> minutes(in.lines.size(),
                                           std::vector<double>(in.period_count, -1));
  for (size_t l = 0; l < in.lines.size(); ++l) {
    for (const LineShift& shift : in.lines[l].shifts)
      minutes[l][shift.period] = shift.planned_minutes;
  }
  return minutes;
}

}  // namespace plantmesh::planning::propose::internal
