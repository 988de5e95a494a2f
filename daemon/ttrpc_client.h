/* A blocking ttrpc client for one unix socket: one call at a time, each
   bounded by a timeout.  For the shim binary's own commands (migrate),
   which run outside any event loop.  */
#ifndef LCOW_TTRPC_CLIENT_H
#define LCOW_TTRPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "proto/base/error.h"

struct ttrpc_client
{
  int fd;
  uint32_t next_stream;
  char *address;
};

/* address: a socket path, or containerd's form unix://PATH.  */
int ttrpc_client_connect (const char *address, struct ttrpc_client *c,
                          shim_error **err);
/* Sends req to service/method and waits up to timeout_ms for the answer:
   0 with *resp (unpacked with resp_desc; free it), or -1 with the server's
   status (its code and message) or why no answer came.  */
int ttrpc_client_call (struct ttrpc_client *c, const char *service,
                       const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc,
                       ProtobufCMessage **resp, uint32_t timeout_ms,
                       shim_error **err);
void ttrpc_client_close (struct ttrpc_client *c);

#endif
