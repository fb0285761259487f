// What every fuzz target shares: the entry point libFuzzer calls (and replay_main.cc, in
// builds without libFuzzer), and FUZZ_CHECK, which stops the run on a broken invariant
// with what broke, so that libFuzzer keeps the input as a crash and replay names it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace plantmesh::fuzz {

// Inputs a target builds for itself (well-formed ones, so that mutations start from
// structure): replay runs them and their mutations, scripts/fuzz writes them as the
// starting corpus (`--write-seeds DIR`). Defined by each target.
std::vector<std::string> Seeds();

}  // namespace plantmesh::fuzz

#define FUZZ_CHECK(condition, what)                                        \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "fuzz: invariant broken: %s: %s\n", #condition, \
                   std::string(what).c_str());                             \
      std::abort();                                                        \
    }                                                                      \
  } while (false)
