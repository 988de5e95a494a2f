/* The guest side of the bridge: what a host request asks for.  Pure.  */
#ifndef LCOW_GUEST_BRIDGE_REQUEST_H
#define LCOW_GUEST_BRIDGE_REQUEST_H

#include <stddef.h>

enum bridge_request
{
  BRIDGE_REQUEST_INVALID,     /* not a JSON object with a string "type" */
  BRIDGE_REQUEST_SHUTDOWN,    /* {"type":"shutdown"}: power the VM off */
  BRIDGE_REQUEST_UNSUPPORTED, /* a type this agent does not know */
};

enum bridge_request bridge_request_classify (const char *body, size_t len);

#endif
