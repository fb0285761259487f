# plantmesh_warnings(target): our warning set. Generated code does not get it.
function(plantmesh_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  get_target_property(_unity ${target} UNITY_BUILD)
  if(_unity AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # In a unity unit every .cc file is an #include, and GCC then takes a class member of
    # a type from the file's anonymous namespace for a header's mistake.
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
  if(PLANTMESH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
