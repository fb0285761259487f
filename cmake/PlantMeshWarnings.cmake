# plantmesh_warnings(target): our warning set. Generated code does not get it.
function(plantmesh_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(PLANTMESH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
