// The SDK and its abseil are C++17: said at the first SDK header a program includes,
// before a deep error or a program built in another language mode than the library it
// links (the CMake package asks for C++17 itself; with pkg-config, give -std=c++17).
#pragma once

#if __cplusplus < 201703L
#error "the PlantMesh SDK needs C++17 or later: compile with -std=c++17"
#endif
