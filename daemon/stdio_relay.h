/* The standard streams of one process in the guest, relayed to and from
   containerd's FIFOs.  Output arrives from the bridge and is credited back
   to the guest once written (the guest stops at BRIDGE_WINDOW unacknowledged
   bytes, so a slow reader holds the process, not shim memory); stdin is
   read only while the guest has room for it, and ends at CloseIO once the
   FIFO is empty.  */
#ifndef LCOW_STDIO_RELAY_H
#define LCOW_STDIO_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

struct stdio_relay;

struct stdio_relay_ops
{
  /* Stdin bytes for the guest (len 0: the end).  */
  void (*send_stdin) (void *ctx, const void *bytes, size_t len);
  /* n bytes of stdout/stderr were delivered.  */
  void (*credit) (void *ctx, uint8_t stream, uint32_t n);
};

/* Empty or non-absolute paths have no FIFO (output is discarded).  */
int stdio_relay_open (uv_loop_t *loop, const char *stdin_path,
                      const char *stdout_path, const char *stderr_path,
                      const struct stdio_relay_ops *ops, void *ctx,
                      struct stdio_relay **out, shim_error **err);
/* Once the guest process exists: starts reading stdin (or, without a
   stdin FIFO, ends the guest's stdin).  */
void stdio_relay_start (struct stdio_relay *r);
/* Output from the guest (stream BRIDGE_STDOUT or BRIDGE_STDERR; len 0
   ends it).  */
void stdio_relay_output (struct stdio_relay *r, uint8_t stream,
                         const uint8_t *bytes, size_t len);
void stdio_relay_stdin_credit (struct stdio_relay *r, uint32_t n);
/* The client closed stdin: forward what the FIFO holds, then the end.  */
void stdio_relay_close_stdin (struct stdio_relay *r);
/* Live migration: the stdin a relay hands over (bytes the guest has not
   credited; whether its end was sent), and a relay taking it over before
   it starts (the end is not sent twice; reading waits for the guest's
   room).  */
void stdio_relay_stdin_state (const struct stdio_relay *r, uint32_t *unacked,
                              bool *ended);
void stdio_relay_take_stdin (struct stdio_relay *r, uint32_t unacked,
                             bool ended);
/* Calls fn once every output byte received so far is written.  */
void stdio_relay_when_drained (struct stdio_relay *r, void (*fn) (void *data),
                               void *data);
/* The same, but fn is called after ms at the latest (a FIFO nobody reads
   any more would hold it for ever); stdio_relay_drained then tells.  */
void stdio_relay_when_drained_within (struct stdio_relay *r, uint64_t ms,
                                      void (*fn) (void *data), void *data);
bool stdio_relay_drained (const struct stdio_relay *r);
/* Closes the FIFOs (pending writes are dropped); frees r when libuv lets
   go.  No callback after this.  */
void stdio_relay_close (struct stdio_relay *r);

#endif
