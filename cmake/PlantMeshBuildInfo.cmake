# plantmesh_build_info: version, git revision and contract packages of this build
# (common/build_info/build_info.h). The revision is read at every build, not only
# when CMake configures, by cmake/write_build_info.cmake.
set(PLANTMESH_GIT_REVISION "" CACHE STRING
  "git revision to report when building without .git (e.g. from a release tarball)")
set(_build_info_cc "${PROJECT_BINARY_DIR}/gen/plantmesh_build_info.cc")
# Lists travel as |-separated text: a ; would split the argument in the command line.
string(REPLACE ";" "|" _service_protos "${PLANTMESH_SERVICE_PROTOS}")
string(REPLACE ";" "|" _all_protos "${PLANTMESH_MESSAGE_PROTOS};${PLANTMESH_SERVICE_PROTOS}")
add_custom_target(plantmesh_build_info_values
  COMMAND "${CMAKE_COMMAND}"
    "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}" "-DOUTPUT=${_build_info_cc}"
    "-DVERSION=${PROJECT_VERSION}" "-DPROTO_ROOT=${PLANTMESH_PROTO_ROOT}"
    "-DSERVICE_PROTOS=${_service_protos}" "-DALL_PROTOS=${_all_protos}"
    "-DGIT_REVISION_OVERRIDE=${PLANTMESH_GIT_REVISION}"
    -P "${PROJECT_SOURCE_DIR}/cmake/write_build_info.cmake"
  BYPRODUCTS "${_build_info_cc}"
  COMMENT "Build info (version, git revision, contracts)"
  VERBATIM)
add_library(plantmesh_build_info STATIC "${PROJECT_SOURCE_DIR}/common/build_info/build_info.cc"
  "${_build_info_cc}")
add_dependencies(plantmesh_build_info plantmesh_build_info_values)
target_include_directories(plantmesh_build_info PUBLIC "${PROJECT_SOURCE_DIR}")
target_link_libraries(plantmesh_build_info PRIVATE absl::strings)
plantmesh_warnings(plantmesh_build_info)
