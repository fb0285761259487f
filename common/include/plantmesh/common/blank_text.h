// What counts as "nothing given" for a text.
#pragma once

#include <string_view>

namespace plantmesh::common {

// Empty or only ASCII white space. A required text that is blank is missing: the
// contract's REQUIRED check (contract::MissingRequiredFields) and every service's own
// "required" checks use this rule (outside testing: a writer_id and a revision reason of
// spaces only were taken).
bool IsBlankText(std::string_view text);

}  // namespace plantmesh::common
