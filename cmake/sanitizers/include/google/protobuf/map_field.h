// ThreadSanitizer builds only (PLANTMESH_SANITIZE=thread; this directory is searched
// before /usr/include there): protobuf's own map_field.h, read with __SANITIZE_THREAD__
// undefined.
//
// With __SANITIZE_THREAD__ defined, map_field.h gives MapFieldBase two more members
// (seq1_, seq2_: protobuf's own const/mutable access check) than Debian's
// uninstrumented libprotobuf was compiled with, so every field of a MapField after them
// (its Map) sat 8 bytes off between our code and the library: a map field of a message
// built by libprotobuf (google.protobuf.Struct's `fields`) crashed when our code used it
// (runtime.idempotency_test, runtime.request_rules_test: SEGV in Map::FindHelper). The
// layout must be the library's; TSan still checks every access our code makes to the map.
#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include_next <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
