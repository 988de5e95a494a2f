/* The host side of the bridge: decoding what the guest agent sends.  */
#ifndef LCOW_UVM_BRIDGE_H
#define LCOW_UVM_BRIDGE_H

#include "bridge_protocol.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

/* What the guest agent says it booted, from its hello notification.  */
struct bridge_hello
{
  char *cmdline;
  char *kernel_release;
  char *root;
  uint64_t cpus;
  uint64_t memory_mb;
  uint64_t uptime_ms;
};

/* Decodes one guest message body.  Returns 1 with *out filled for a hello,
   0 for any other well-formed message, -1 (InvalidArgument) for a body
   that is not a JSON object with a string "type".  Pure.  */
int bridge_hello_decode (uint8_t frame_type, const uint8_t *body, size_t len,
                         struct bridge_hello *out, shim_error **err);
void bridge_hello_release (struct bridge_hello *h);
#endif
