/* Packing a protobuf-c message into a buffer of its own.  */
#ifndef LCOW_PB_PACK_H
#define LCOW_PB_PACK_H

#include <protobuf-c/protobuf-c.h>

/* The packed message in a malloc'd buffer (caller frees .data); the result
   fits a bytes field (Any.value, Request.payload) as it is.  */
ProtobufCBinaryData pb_pack (const ProtobufCMessage *m);

#endif
