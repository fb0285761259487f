# Debian packages with CPack (`cpack -G DEB` in the build directory, or scripts/package):
#   plantmesh-server       the server (and its CBC solver program, in /usr/libexec/plantmesh),
#                          a systemd unit template per service instance
#                          (plantmesh@<service>), the example config, a system user
#   plantctl               the command line, with its bash completion
#   libplantmesh-sdk-dev   the SDK's static libraries, headers, contracts, the CMake
#                          package PlantMesh and pkg-config `plantmesh`
# Runtime dependencies of the two programs come from dpkg-shlibdeps; the SDK depends on
# the -dev packages its headers include. Tested by tests/deploy/debian_packages_test.sh.
set(_debian "${PROJECT_SOURCE_DIR}/deploy/debian")

install(TARGETS plantmesh-server RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT server)
# ProposePlan's CBC runs (server/planning/propose/solver_process.h); the server finds it
# at ../libexec/plantmesh/ from its own program.
install(TARGETS plantmesh-cbc-solver RUNTIME DESTINATION "${CMAKE_INSTALL_LIBEXECDIR}/plantmesh"
  COMPONENT server)
# Relative destinations: the package's prefix is /usr (/usr/lib/systemd/system is where
# Debian 12 looks, /lib being /usr/lib). The config is copied to /etc by postinst, once,
# so that an edited config survives upgrades and `cmake --install` never writes to /etc.
install(FILES "${_debian}/plantmesh@.service" DESTINATION lib/systemd/system COMPONENT server)
install(FILES "${_debian}/server.toml" DESTINATION "${CMAKE_INSTALL_DATADIR}/plantmesh"
  COMPONENT server)
install(FILES "${PROJECT_SOURCE_DIR}/docs/runbook.md"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/plantmesh-server" COMPONENT server)

install(TARGETS plantctl RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT cli)
# The completion script, from the command tree of the plantctl just built.
add_custom_command(OUTPUT "${PROJECT_BINARY_DIR}/plantctl.bash-completion"
  COMMAND plantctl completion bash > "${PROJECT_BINARY_DIR}/plantctl.bash-completion"
  DEPENDS plantctl VERBATIM)
add_custom_target(plantctl_completion ALL DEPENDS "${PROJECT_BINARY_DIR}/plantctl.bash-completion")
install(FILES "${PROJECT_BINARY_DIR}/plantctl.bash-completion"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" RENAME plantctl
  COMPONENT cli)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME plantmesh)
set(CPACK_PACKAGE_VENDOR "PlantMesh")
set(CPACK_PACKAGE_CONTACT "PlantMesh maintainers <plantmesh@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server cli sdk)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME plantmesh-server)
set(CPACK_COMPONENT_SERVER_DESCRIPTION
  "PlantMesh server: the plant's gRPC services over mutual TLS\n Hosts the defect, telemetry, planning and reporting services (one systemd\n instance per service: plantmesh@<service>), backed by PostgreSQL and Redis.")
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_SERVER_PACKAGE_RECOMMENDS "postgresql (>= 15), redis-server")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
  "${_debian}/postinst;${_debian}/prerm;${_debian}/postrm")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME plantctl)
set(CPACK_COMPONENT_CLI_DESCRIPTION
  "PlantMesh command line\n plantctl calls every PlantMesh service from the contracts it was built with.")

set(CPACK_DEBIAN_SDK_PACKAGE_NAME libplantmesh-sdk-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_SDK_PACKAGE_ARCHITECTURE amd64)
set(CPACK_COMPONENT_SDK_DESCRIPTION
  "PlantMesh C++ client SDK (static libraries and headers)\n Typed clients of the plant's gRPC services, their mocks for GoogleTest, the\n contracts, the CMake package PlantMesh and pkg-config plantmesh.")
set(CPACK_DEBIAN_SDK_PACKAGE_DEPENDS
  "libgrpc++-dev (>= 1.51), libprotobuf-dev (>= 3.21), libabsl-dev (>= 0~20220623), libssl-dev, pkg-config")
set(CPACK_DEBIAN_SDK_PACKAGE_SUGGESTS "libgtest-dev, libgmock-dev")

include(CPack)
