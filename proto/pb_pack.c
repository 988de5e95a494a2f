/* See pb_pack.h.  */
#include "pb_pack.h"
#include "base/xalloc.h"

ProtobufCBinaryData
pb_pack (const ProtobufCMessage *m)
{
  ProtobufCBinaryData out;
  out.len = protobuf_c_message_get_packed_size (m);
  out.data = xmalloc (out.len);
  protobuf_c_message_pack (m, out.data);
  return out;
}
