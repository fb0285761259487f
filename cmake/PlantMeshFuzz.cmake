# PLANTMESH_FUZZ=ON (clang only; scripts/fuzz): every target is compiled with libFuzzer's
# coverage instrumentation and the targets of fuzz/ are linked with libFuzzer, so that
# they explore. OFF (every other build): fuzz/'s targets are linked with its replay
# driver and run as tests (fuzz.*), their seeds, corpus and fixed mutations.
option(PLANTMESH_FUZZ "Build fuzz/ with libFuzzer (clang; use with PLANTMESH_SANITIZE)" OFF)
if(PLANTMESH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PLANTMESH_FUZZ needs clang (CXX=clang++): libFuzzer is clang's")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
