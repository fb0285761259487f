# PLANTMESH_SANITIZE: builds every target of this project with sanitizers, the code
# generated from the contracts included (flags are set before any add_subdirectory).
#   ""                   none (the default)
#   "address,undefined"  AddressSanitizer (with LeakSanitizer) + UndefinedBehaviorSanitizer
#   "thread"             ThreadSanitizer
# Use a build directory per mode (scripts/test-sanitizers uses build-asan, build-tsan).
# Debian's gRPC, protobuf, abseil and libpq stay uninstrumented: see
# cmake/sanitizers/README.md for what that means and how each mode deals with it.
# plantmesh_sanitize_executable(target): what an executable needs in this mode; called
# for every executable by plantmesh_finish_targets() (cmake/PlantMeshTargets.cmake).
function(plantmesh_sanitize_executable target)
  if(PLANTMESH_SANITIZE STREQUAL "thread")
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:plantmesh_tsan_absl_sync>)
    target_link_options(${target} PRIVATE "${PLANTMESH_TSAN_ABSL_LINK_OPTION}")
  endif()
endfunction()

set(PLANTMESH_SANITIZE "" CACHE STRING
    "Sanitizers for every target: address,undefined | thread | empty for none")
set_property(CACHE PLANTMESH_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")

# The compile and link flags of the chosen mode. Empty when not sanitizing.
set(PLANTMESH_SANITIZER_FLAGS "")
# The same as one command-line string each, for programs that the tests build against
# this build's libraries outside CMake's targets (tests/e2e/sdk_example_test.sh).
set(PLANTMESH_SANITIZER_COMPILE_FLAGS_STRING "")
set(PLANTMESH_SANITIZER_LINK_FLAGS_STRING "")

if(PLANTMESH_SANITIZE STREQUAL "")
  return()
elseif(PLANTMESH_SANITIZE STREQUAL "address,undefined")
  # A UBSan finding aborts the process (and so fails its test) instead of printing
  # and going on.
  set(PLANTMESH_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all)
elseif(PLANTMESH_SANITIZE STREQUAL "thread")
  set(PLANTMESH_SANITIZER_FLAGS -fsanitize=thread)
else()
  message(FATAL_ERROR "PLANTMESH_SANITIZE must be empty, 'address,undefined' or 'thread', "
                      "not '${PLANTMESH_SANITIZE}'")
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "PLANTMESH_SANITIZE needs GCC or Clang")
endif()

# -O1 after the build type's -O2/-O3 (options follow CMAKE_CXX_FLAGS_<CONFIG>): fast
# enough for the suite, while frame pointers and line tables (-g1) give every frame of a
# report its file and line. -g1 leaves out variables (no report prints them) and the
# frames of inlined calls (such a frame shows as the line of its caller), and builds
# about a quarter faster than -g: the three builds of CI must fit in its 90 minutes.
add_compile_options(${PLANTMESH_SANITIZER_FLAGS} -O1 -g1 -fno-omit-frame-pointer)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC's flow analysis gives false "may be used uninitialized" warnings on
  # instrumented code (in libstdc++'s <regex> and <functional> here); the Release build
  # keeps the warning.
  add_compile_options(-Wno-maybe-uninitialized)
endif()
add_link_options(${PLANTMESH_SANITIZER_FLAGS})
list(JOIN PLANTMESH_SANITIZER_FLAGS " " PLANTMESH_SANITIZER_COMPILE_FLAGS_STRING)
set(PLANTMESH_SANITIZER_COMPILE_FLAGS_STRING "${PLANTMESH_SANITIZER_COMPILE_FLAGS_STRING} -g1")
set(PLANTMESH_SANITIZER_LINK_FLAGS_STRING "${PLANTMESH_SANITIZER_COMPILE_FLAGS_STRING}")
message(STATUS "PlantMesh: sanitizers ${PLANTMESH_SANITIZE} on every target")

if(PLANTMESH_SANITIZE STREQUAL "thread")
  # protobuf's map_field.h lays MapFieldBase out differently when __SANITIZE_THREAD__ is
  # defined; this directory's wrapper reads it with the layout of Debian's libprotobuf
  # (the reason is in the wrapper).
  set(_protobuf_layout "${CMAKE_CURRENT_LIST_DIR}/sanitizers/include")
  include_directories(BEFORE SYSTEM "${_protobuf_layout}")
  string(APPEND PLANTMESH_SANITIZER_COMPILE_FLAGS_STRING " -isystem ${_protobuf_layout}")
  # Debian's abseil is not built with ThreadSanitizer, so absl::Mutex, CondVar and
  # Notification (ours and gRPC's own locks) are invisible to it. This object, linked
  # into every executable, interposes their entry points and tells ThreadSanitizer
  # about each lock and unlock (as abseil itself does when built with it).
  # It also carries the edge from a thread starting a gRPC batch to the reaction its
  # completion runs (tsan_grpc_batch.cc), which libgrpc makes with its own atomics.
  add_library(plantmesh_tsan_absl_sync OBJECT
              "${CMAKE_CURRENT_LIST_DIR}/sanitizers/tsan_absl_sync.cc"
              "${CMAKE_CURRENT_LIST_DIR}/sanitizers/tsan_grpc_batch.cc")
  # Two files that each declare the entry points they interpose in their own way: one
  # unity unit would see both declarations.
  set_target_properties(plantmesh_tsan_absl_sync PROPERTIES UNITY_BUILD OFF)
  target_link_libraries(plantmesh_tsan_absl_sync PRIVATE absl::synchronization)
  target_include_directories(plantmesh_tsan_absl_sync PRIVATE "${PROJECT_SOURCE_DIR}")
  # The executable must export these definitions, so that gRPC's and abseil's own
  # calls (through the PLT) reach them too.
  set(_absl_exports "")
  foreach(_pattern IN ITEMS _ZN4absl*5Mutex* _ZNK4absl*5Mutex* _ZN4absl*7CondVar*
                            _ZN4absl*12Notification* _ZNK4absl*12Notification*
                            _ZN4absl*13base_internal12SpinLockWait*
                            gpr_once_init grpc_call_start_batch
                            _ZN4grpc8internal18ServerCallbackCall14ScheduleOnDoneEb)
    list(APPEND _absl_exports "--export-dynamic-symbol=${_pattern}")
  endforeach()
  list(JOIN _absl_exports "," _absl_exports)
  set(PLANTMESH_TSAN_ABSL_LINK_OPTION "LINKER:${_absl_exports}")
  # A generator expression (the objects' paths, space-separated): usable in add_test and
  # custom commands.
  string(APPEND PLANTMESH_SANITIZER_LINK_FLAGS_STRING
         " $<JOIN:$<TARGET_OBJECTS:plantmesh_tsan_absl_sync>, > -Wl,${_absl_exports}")
endif()
