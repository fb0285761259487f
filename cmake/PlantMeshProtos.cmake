# Generates C++ from proto/ into ${PLANTMESH_GEN_DIR} (build tree only):
#   plantmesh_proto        messages + gRPC stubs of every contract (one library)
#   PLANTMESH_SDK_SOURCES  the typed client facades  (<file>.pm_client.{h,cc}), for sdk/
#   PLANTMESH_SERVER_SOURCES the guarded server bases (<file>.pm_server.{h,cc}), for server/
set(PLANTMESH_PROTO_ROOT "${PROJECT_SOURCE_DIR}/proto")
set(PLANTMESH_GEN_DIR "${PROJECT_BINARY_DIR}/gen")
file(MAKE_DIRECTORY "${PLANTMESH_GEN_DIR}")

set(PLANTMESH_MESSAGE_PROTOS
  plantmesh/api/v1/annotations.proto
  plantmesh/api/v1/error_details.proto
  plantmesh/defect/v1/defect.proto
  plantmesh/defect/v1/resources.proto
)
# Files that define a service: they also get SDK and server code from our plugin.
set(PLANTMESH_SERVICE_PROTOS
  plantmesh/system/v1/system_service.proto
  plantmesh/defect/v1/defect_service.proto
)

add_library(plantmesh_proto STATIC)
set(_all_protos ${PLANTMESH_MESSAGE_PROTOS} ${PLANTMESH_SERVICE_PROTOS})
list(TRANSFORM _all_protos PREPEND "${PLANTMESH_PROTO_ROOT}/" OUTPUT_VARIABLE _all_proto_paths)
target_sources(plantmesh_proto PRIVATE ${_all_proto_paths})
target_include_directories(plantmesh_proto PUBLIC
  $<BUILD_INTERFACE:${PLANTMESH_GEN_DIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(plantmesh_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
protobuf_generate(TARGET plantmesh_proto LANGUAGE cpp
  IMPORT_DIRS "${PLANTMESH_PROTO_ROOT}" PROTOC_OUT_DIR "${PLANTMESH_GEN_DIR}")
protobuf_generate(TARGET plantmesh_proto LANGUAGE grpc
  GENERATE_EXTENSIONS .grpc.pb.h .grpc.pb.cc
  PLUGIN "protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
  IMPORT_DIRS "${PLANTMESH_PROTO_ROOT}" PROTOC_OUT_DIR "${PLANTMESH_GEN_DIR}")
set_target_properties(plantmesh_proto PROPERTIES EXPORT_NAME proto)

# Our plugin: protoc-gen-plantmesh (sdk/codegen). One protoc run for all service files.
set(PLANTMESH_SDK_SOURCES "")
set(PLANTMESH_SERVER_SOURCES "")
foreach(_p IN LISTS PLANTMESH_SERVICE_PROTOS)
  string(REGEX REPLACE "\\.proto$" "" _stem "${_p}")
  list(APPEND PLANTMESH_SDK_SOURCES
    "${PLANTMESH_GEN_DIR}/${_stem}.pm_client.h" "${PLANTMESH_GEN_DIR}/${_stem}.pm_client.cc")
  list(APPEND PLANTMESH_SERVER_SOURCES
    "${PLANTMESH_GEN_DIR}/${_stem}.pm_server.h" "${PLANTMESH_GEN_DIR}/${_stem}.pm_server.cc")
endforeach()
list(TRANSFORM PLANTMESH_SERVICE_PROTOS PREPEND "${PLANTMESH_PROTO_ROOT}/"
  OUTPUT_VARIABLE _service_proto_paths)
add_custom_command(
  OUTPUT ${PLANTMESH_SDK_SOURCES} ${PLANTMESH_SERVER_SOURCES}
  COMMAND protobuf::protoc
    "--plugin=protoc-gen-plantmesh=$<TARGET_FILE:protoc-gen-plantmesh>"
    "--plantmesh_out=${PLANTMESH_GEN_DIR}"
    "-I${PLANTMESH_PROTO_ROOT}"
    ${PLANTMESH_SERVICE_PROTOS}
  DEPENDS protoc-gen-plantmesh ${_all_proto_paths}
  WORKING_DIRECTORY "${PLANTMESH_PROTO_ROOT}"
  COMMENT "Generating PlantMesh SDK clients and server bases"
  VERBATIM)
add_custom_target(plantmesh_generated DEPENDS ${PLANTMESH_SDK_SOURCES} ${PLANTMESH_SERVER_SOURCES})
