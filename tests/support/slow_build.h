// How many times slower than the Release build the code under test runs. For bounds that
// are themselves what a test checks (a recovery time, a solver's wall clock): the Release
// run holds the bound itself, a sanitizer build (5-20× slower, on a busy CI machine) the
// bound times this.
#pragma once

namespace plantmesh::testing {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr int kSlowBuild = 10;
#else
inline constexpr int kSlowBuild = 1;
#endif

}  // namespace plantmesh::testing
