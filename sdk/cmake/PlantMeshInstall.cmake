# `cmake --install` for the SDK (component `sdk`: `cmake --install <build> --component sdk`
# needs only plantmesh_sdk built): libraries, public and generated headers, the contracts,
# the CMake package `PlantMesh` (PlantMesh::sdk, PlantMesh::proto, PlantMesh::contract and,
# as the component sdk_mocks, PlantMesh::sdk_mocks) and pkg-config `plantmesh`. Included
# from sdk/CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(PLANTMESH_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/PlantMesh")

install(TARGETS plantmesh_sdk plantmesh_proto plantmesh_common plantmesh_contract EXPORT PlantMeshTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT sdk
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT sdk
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# Hand-written headers (plantmesh/sdk/...).
install(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/include/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT sdk FILES_MATCHING PATTERN "*.h")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/common/include/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT sdk FILES_MATCHING PATTERN "*.h")

# The mocks: header only, in an export set of their own, so that find_package(PlantMesh)
# without the component needs no GTest.
if(TARGET plantmesh_sdk_mocks)
  install(TARGETS plantmesh_sdk_mocks EXPORT PlantMeshMocksTargets
    INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
  install(EXPORT PlantMeshMocksTargets NAMESPACE PlantMesh::
    DESTINATION "${PLANTMESH_INSTALL_CMAKEDIR}" COMPONENT sdk)
endif()

# Generated headers keep their path under gen/: plantmesh/defect/v1/defect_service.pb.h ...
set(_generated_headers ${PLANTMESH_PROTO_HEADERS} ${PLANTMESH_SDK_SOURCES}
  ${PLANTMESH_SDK_MOCK_HEADERS})
list(FILTER _generated_headers INCLUDE REGEX "\\.h$")
foreach(_header IN LISTS _generated_headers)
  file(RELATIVE_PATH _relative "${PLANTMESH_GEN_DIR}" "${_header}")
  get_filename_component(_dir "${_relative}" DIRECTORY)
  install(FILES "${_header}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${_dir}" COMPONENT sdk)
endforeach()

# The contracts themselves, for other languages' code generators.
install(DIRECTORY "${PLANTMESH_PROTO_ROOT}/plantmesh"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/plantmesh/proto" COMPONENT sdk
  FILES_MATCHING PATTERN "*.proto")

install(EXPORT PlantMeshTargets NAMESPACE PlantMesh::
  DESTINATION "${PLANTMESH_INSTALL_CMAKEDIR}" COMPONENT sdk)
configure_package_config_file("${CMAKE_CURRENT_SOURCE_DIR}/cmake/PlantMeshConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/PlantMeshConfig.cmake"
  INSTALL_DESTINATION "${PLANTMESH_INSTALL_CMAKEDIR}")
# 0.x: only the same minor version is compatible.
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/PlantMeshConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/PlantMeshConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/PlantMeshConfigVersion.cmake"
  DESTINATION "${PLANTMESH_INSTALL_CMAKEDIR}" COMPONENT sdk)

# plantmesh.pc finds its prefix relative to itself, so `cmake --install --prefix X`
# and relocated trees work.
set(_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
string(REGEX REPLACE "[^/]+" ".." PLANTMESH_PC_TO_PREFIX "${_pc_dir}")
configure_file("${CMAKE_CURRENT_SOURCE_DIR}/cmake/plantmesh.pc.in"
  "${CMAKE_CURRENT_BINARY_DIR}/plantmesh.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/plantmesh.pc" DESTINATION "${_pc_dir}" COMPONENT sdk)
