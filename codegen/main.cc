// protoc-gen-plantmesh: `protoc --plugin=protoc-gen-plantmesh=PATH --plantmesh_out=DIR`.
#include <google/protobuf/compiler/plugin.h>

#include "codegen/plantmesh_generator.h"

int main(int argc, char* argv[]) {
  plantmesh::codegen::PlantMeshGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
