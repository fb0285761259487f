# Generates C++ from proto/ into ${PLANTMESH_GEN_DIR} (build tree only):
#   plantmesh_proto        messages + gRPC stubs of every contract (one library)
#   PLANTMESH_SDK_SOURCES  the typed clients and connections (<file>.pm_client.{h,cc}), for sdk/
#   PLANTMESH_SDK_MOCK_HEADERS the connections' gMock mocks (<file>.pm_mock.h), for sdk_mocks
#   PLANTMESH_SERVER_SOURCES the guarded server bases (<file>.pm_server.{h,cc}), for server/
set(PLANTMESH_PROTO_ROOT "${PROJECT_SOURCE_DIR}/proto")
set(PLANTMESH_GEN_DIR "${PROJECT_BINARY_DIR}/gen")
file(MAKE_DIRECTORY "${PLANTMESH_GEN_DIR}")

# Every contract under proto/plantmesh/: a new service's files need no line here. Files
# named *_service.proto define a service (buf style: one service per file) and also get
# SDK and server code from our plugin.
file(GLOB_RECURSE _contract_files CONFIGURE_DEPENDS RELATIVE "${PLANTMESH_PROTO_ROOT}"
  "${PLANTMESH_PROTO_ROOT}/plantmesh/*.proto")
list(SORT _contract_files)
set(PLANTMESH_MESSAGE_PROTOS ${_contract_files})
list(FILTER PLANTMESH_MESSAGE_PROTOS EXCLUDE REGEX "_service\\.proto$")
set(PLANTMESH_SERVICE_PROTOS ${_contract_files})
list(FILTER PLANTMESH_SERVICE_PROTOS INCLUDE REGEX "_service\\.proto$")

# protoc runs with the contract root as its only import dir, so generated files sit at
# <gen>/<path in proto/> and their #includes match. (protobuf_generate() would also
# pass the source dir as an import dir and name outputs after it: gen/proto/....)
set(_all_protos ${PLANTMESH_MESSAGE_PROTOS} ${PLANTMESH_SERVICE_PROTOS})
list(TRANSFORM _all_protos PREPEND "${PLANTMESH_PROTO_ROOT}/" OUTPUT_VARIABLE _all_proto_paths)
# annotations.proto is generated and compiled by plantmesh_contract (common/), which the
# code generator links before this library can exist.
set(_generated_protos ${_all_protos})
list(REMOVE_ITEM _generated_protos "plantmesh/api/v1/annotations.proto")
set(PLANTMESH_PROTO_SOURCES "")
set(PLANTMESH_PROTO_HEADERS "${PLANTMESH_ANNOTATIONS_HEADER}")  # installed beside the SDK's
foreach(_p IN LISTS _generated_protos)
  string(REGEX REPLACE "\\.proto$" "" _stem "${_p}")
  set(_outputs
    "${PLANTMESH_GEN_DIR}/${_stem}.pb.h" "${PLANTMESH_GEN_DIR}/${_stem}.pb.cc"
    "${PLANTMESH_GEN_DIR}/${_stem}.grpc.pb.h" "${PLANTMESH_GEN_DIR}/${_stem}.grpc.pb.cc")
  add_custom_command(
    OUTPUT ${_outputs}
    COMMAND protobuf::protoc
      "--cpp_out=${PLANTMESH_GEN_DIR}"
      "--grpc_out=${PLANTMESH_GEN_DIR}"
      "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
      "-I${PLANTMESH_PROTO_ROOT}"
      "${_p}"
    # Imports are few and small: any contract change regenerates every file.
    DEPENDS ${_all_proto_paths} protobuf::protoc gRPC::grpc_cpp_plugin
    WORKING_DIRECTORY "${PLANTMESH_PROTO_ROOT}"
    COMMENT "Generating C++ for ${_p}"
    VERBATIM)
  list(APPEND PLANTMESH_PROTO_SOURCES ${_outputs})
  list(APPEND PLANTMESH_PROTO_HEADERS
    "${PLANTMESH_GEN_DIR}/${_stem}.pb.h" "${PLANTMESH_GEN_DIR}/${_stem}.grpc.pb.h")
endforeach()

add_library(plantmesh_proto STATIC ${PLANTMESH_PROTO_SOURCES})
target_include_directories(plantmesh_proto PUBLIC
  $<BUILD_INTERFACE:${PLANTMESH_GEN_DIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(plantmesh_proto PUBLIC plantmesh_contract protobuf::libprotobuf gRPC::grpc++)
set_target_properties(plantmesh_proto PROPERTIES EXPORT_NAME proto)

# Our plugin: protoc-gen-plantmesh (codegen/). One protoc run for all service files.
set(PLANTMESH_SDK_SOURCES "")
set(PLANTMESH_SERVER_SOURCES "")
set(PLANTMESH_SDK_MOCK_HEADERS "")
foreach(_p IN LISTS PLANTMESH_SERVICE_PROTOS)
  string(REGEX REPLACE "\\.proto$" "" _stem "${_p}")
  list(APPEND PLANTMESH_SDK_SOURCES
    "${PLANTMESH_GEN_DIR}/${_stem}.pm_client.h" "${PLANTMESH_GEN_DIR}/${_stem}.pm_client.cc")
  list(APPEND PLANTMESH_SDK_MOCK_HEADERS "${PLANTMESH_GEN_DIR}/${_stem}.pm_mock.h")
  list(APPEND PLANTMESH_SERVER_SOURCES
    "${PLANTMESH_GEN_DIR}/${_stem}.pm_server.h" "${PLANTMESH_GEN_DIR}/${_stem}.pm_server.cc")
endforeach()
list(TRANSFORM PLANTMESH_SERVICE_PROTOS PREPEND "${PLANTMESH_PROTO_ROOT}/"
  OUTPUT_VARIABLE _service_proto_paths)
# What the SDK knows of all contracts together (codegen/contracts_generator.h).
set(_retry_policy "${PLANTMESH_GEN_DIR}/plantmesh_contracts.pm.cc")
add_custom_command(
  OUTPUT ${PLANTMESH_SDK_SOURCES} ${PLANTMESH_SERVER_SOURCES} ${PLANTMESH_SDK_MOCK_HEADERS}
    "${_retry_policy}"
  COMMAND protobuf::protoc
    "--plugin=protoc-gen-plantmesh=$<TARGET_FILE:protoc-gen-plantmesh>"
    "--plantmesh_out=${PLANTMESH_GEN_DIR}"
    "-I${PLANTMESH_PROTO_ROOT}"
    ${PLANTMESH_SERVICE_PROTOS}
  DEPENDS protoc-gen-plantmesh ${_all_proto_paths}
  WORKING_DIRECTORY "${PLANTMESH_PROTO_ROOT}"
  COMMENT "Generating PlantMesh SDK clients and server bases"
  VERBATIM)
list(APPEND PLANTMESH_SDK_SOURCES "${_retry_policy}")
add_custom_target(plantmesh_generated
  DEPENDS ${PLANTMESH_SDK_SOURCES} ${PLANTMESH_SERVER_SOURCES} ${PLANTMESH_SDK_MOCK_HEADERS})

# plantmesh_generate_contract(<prefix> ROOT <dir> PROTO <path under ROOT>)
# Generates one contract outside proto/ (a test-only service) the way proto/'s are:
# messages, gRPC stubs, the server base, the SDK client and its mock, into
# <current binary dir>/<prefix>_gen. It may import proto/'s files. Sets <prefix>_SOURCES
# and <prefix>_GEN_DIR in the caller's scope.
function(plantmesh_generate_contract prefix)
  cmake_parse_arguments(ARG "" "ROOT;PROTO" "" ${ARGN})
  set(_out "${CMAKE_CURRENT_BINARY_DIR}/${prefix}_gen")
  file(MAKE_DIRECTORY "${_out}")
  string(REGEX REPLACE "\\.proto$" "" _stem "${ARG_PROTO}")
  set(_outputs "")
  foreach(_ext .pb.h .pb.cc .grpc.pb.h .grpc.pb.cc .pm_server.h .pm_server.cc .pm_client.h
          .pm_client.cc .pm_mock.h)
    list(APPEND _outputs "${_out}/${_stem}${_ext}")
  endforeach()
  add_custom_command(
    OUTPUT ${_outputs}
    COMMAND protobuf::protoc
      "--cpp_out=${_out}" "--grpc_out=${_out}" "--plantmesh_out=${_out}"
      "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
      "--plugin=protoc-gen-plantmesh=$<TARGET_FILE:protoc-gen-plantmesh>"
      "-I${ARG_ROOT}" "-I${PLANTMESH_PROTO_ROOT}" "${ARG_PROTO}"
    DEPENDS "${ARG_ROOT}/${ARG_PROTO}" protoc-gen-plantmesh protobuf::protoc
            gRPC::grpc_cpp_plugin
    WORKING_DIRECTORY "${ARG_ROOT}"
    COMMENT "Generating C++ for ${ARG_PROTO}"
    VERBATIM)
  set(${prefix}_SOURCES ${_outputs} PARENT_SCOPE)
  set(${prefix}_GEN_DIR "${_out}" PARENT_SCOPE)
endfunction()
