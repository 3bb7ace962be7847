// Deprecated fields stay readable: the generated Swift bridges every field,
// and the deprecation is already a doc comment on the Swift property.
#define PROTOBUF_C__NO_DEPRECATED 1
#include <protobuf-c/protobuf-c.h>
