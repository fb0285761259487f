// ListWatch (list_watch.h) for defects: ListDefects + WatchDefects kept in sync, e.g. a
// zone board's cards.
#pragma once

#include <memory>

#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/sdk/list_watch.h"

namespace plantmesh::sdk {

using DefectListWatch =
    ListWatch<::plantmesh::defect::v1::Defect, ::plantmesh::defect::v1::WatchDefectsResponse>;

// How many changes one WatchDefects message may carry for a DefectListWatch: what waits
// for a slow board comes in fewer messages, applied one by one in order.
inline constexpr int kDefectWatchChangesPerResponse = 100;

// The source for defects matching `filter` (page_token and page_size as given; zone
// also filters the watch, the other filters are applied to events here; the watch asks
// for kDefectWatchChangesPerResponse). `client` must outlive the ListWatch.
ListWatchSource<::plantmesh::defect::v1::Defect, ::plantmesh::defect::v1::WatchDefectsResponse>
DefectListWatchSource(DefectClient* client, ::plantmesh::defect::v1::ListDefectsRequest filter);

// Whether `defect` matches the filters of `request` (statuses, zone, vin, shift,
// create_time range), as ListDefects applies them.
bool DefectMatches(const ::plantmesh::defect::v1::ListDefectsRequest& request,
                   const ::plantmesh::defect::v1::Defect& defect);

}  // namespace plantmesh::sdk
