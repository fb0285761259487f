#include "plantmesh/sdk/defect_list_watch.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace plantmesh::sdk {
namespace {

namespace pb = ::plantmesh::defect::v1;

bool Before(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return a.seconds() != b.seconds() ? a.seconds() < b.seconds() : a.nanos() < b.nanos();
}

}  // namespace

bool DefectMatches(const pb::ListDefectsRequest& request, const pb::Defect& defect) {
  if (request.statuses_size() > 0 && std::find(request.statuses().begin(), request.statuses().end(),
                                               defect.status()) == request.statuses().end()) {
    return false;
  }
  if (!request.zone().empty() && defect.zone() != request.zone()) return false;
  if (!request.vin().empty() && defect.vin() != request.vin()) return false;
  if (!request.shift().empty() && defect.shift() != request.shift()) return false;
  if (request.has_create_time_from() && Before(defect.create_time(), request.create_time_from())) {
    return false;
  }
  if (request.has_create_time_to() && !Before(defect.create_time(), request.create_time_to())) {
    return false;
  }
  return true;
}

ListWatchSource<pb::Defect, pb::WatchDefectsResponse> DefectListWatchSource(
    DefectClient* client, pb::ListDefectsRequest filter) {
  ListWatchSource<pb::Defect, pb::WatchDefectsResponse> source;
  source.list_page =
      [client, filter](const std::string& page_token) -> absl::StatusOr<ListWatchPage<pb::Defect>> {
    pb::ListDefectsRequest request = filter;
    request.set_page_token(page_token);
    absl::StatusOr<pb::ListDefectsResponse> response = client->ListDefects(request);
    if (!response.ok()) return response.status();
    ListWatchPage<pb::Defect> page;
    page.items.assign(response->defects().begin(), response->defects().end());
    page.next_page_token = response->next_page_token();
    page.watch_cursor = response->watch_cursor();
    return page;
  };
  source.watch = [client, zone = filter.zone()](const std::string& cursor) {
    pb::WatchDefectsRequest request;
    request.set_cursor(cursor);
    request.set_zone(zone);
    request.set_max_changes_per_response(kDefectWatchChangesPerResponse);
    return client->WatchDefects(request);
  };
  source.changes = [](const pb::WatchDefectsResponse& response) {
    std::vector<ListWatchChange<pb::Defect>> changes;
    auto add = [&changes](const pb::DefectEvent& event, pb::FilterChange filter_change) {
      ListWatchChange<pb::Defect>& change = changes.emplace_back();
      change.item = event.defect();
      change.revision = event.revision();
      change.cursor = event.cursor();
      change.left_filter = filter_change == pb::FILTER_CHANGE_LEFT;
    };
    // A server from before max_changes_per_response (a rolling upgrade) sends `event`.
    if (response.has_event()) add(response.event(), response.filter_change());
    for (const pb::WatchDefectsResponse::Change& change : response.changes()) {
      add(change.event(), change.filter_change());
    }
    return changes;
  };
  source.key = [](const pb::Defect& defect) { return defect.id(); };
  source.revision = [](const pb::Defect& defect) { return defect.revision(); };
  source.matches = [filter](const pb::Defect& defect) { return DefectMatches(filter, defect); };
  return source;
}

}  // namespace plantmesh::sdk
