# What applies to every target of a kind, done once at the end of the top-level
# CMakeLists.txt (plantmesh_finish_targets()), after every directory has declared its
# targets.
#
# PLANTMESH_OPTIMIZE_TESTS (OFF): the tests' own code (test programs, their support and
# fake libraries) is compiled with -O0 instead of the build type's optimization. The
# code under test keeps the build's flags (a test program links the same optimized
# libraries, and the end-to-end tests run the same plantmesh-server, as a deployment);
# only the test bodies are left unoptimized, which makes them about three times faster
# to compile (gmock's and gtest's templates dominate a build from scratch) and changes
# no result. A test target is one whose name says so: `*_test`, `e2e_*`, `*_testing`,
# `plantmesh_test_support`, `plantmesh_e2e_mesh`.
option(PLANTMESH_OPTIMIZE_TESTS "Compile the tests' own code with the build type's optimization" OFF)

# plantmesh_all_targets(<out-var>): every target declared in this project's directories.
function(plantmesh_all_targets out_var)
  set(_all "")
  set(_dirs "${PROJECT_SOURCE_DIR}")
  while(_dirs)
    list(POP_FRONT _dirs _dir)
    get_property(_subdirs DIRECTORY "${_dir}" PROPERTY SUBDIRECTORIES)
    list(APPEND _dirs ${_subdirs})
    get_property(_targets DIRECTORY "${_dir}" PROPERTY BUILDSYSTEM_TARGETS)
    list(APPEND _all ${_targets})
  endwhile()
  set(${out_var} "${_all}" PARENT_SCOPE)
endfunction()

function(plantmesh_finish_targets)
  plantmesh_all_targets(_targets)
  foreach(_target IN LISTS _targets)
    get_target_property(_type ${_target} TYPE)
    if(NOT PLANTMESH_OPTIMIZE_TESTS
       AND _type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|OBJECT_LIBRARY)$"
       AND _target MATCHES "(_test$|^e2e_|_testing$|^plantmesh_test_support$|^plantmesh_e2e_mesh$)")
      # After the build type's and the sanitizers' -O flags: the last one counts.
      target_compile_options(${_target} PRIVATE -O0)
    endif()
    if(_type STREQUAL "EXECUTABLE")
      plantmesh_sanitize_executable(${_target})
    endif()
    # protoc's output defines file-local tables under the same names in every file: it
    # cannot share a unity unit.
    get_target_property(_sources ${_target} SOURCES)
    if(_sources)
      list(FILTER _sources INCLUDE REGEX "\\.pb\\.cc$")
      if(_sources)
        set_source_files_properties(${_sources} TARGET_DIRECTORY ${_target}
                                    PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
      endif()
    endif()
  endforeach()
endfunction()
