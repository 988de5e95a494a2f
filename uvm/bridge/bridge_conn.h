/* The host end of the bridge connection to the guest agent: frames in and
   out, requests waiting for their responses, and the flow control that
   keeps a guest from growing the shim (uvm/guest/PROTOCOL.md).

   The guest is untrusted.  What it can make the host hold is bounded:
   - frames the host queues towards it (requests, stdin, credit) are capped
     at BRIDGE_OUT_MAX bytes of memory; beyond that the bridge is not read
   until the guest has taken them, so a guest that stops reading stops being
   heard;
   - credit is merged per stream and written when there is room: a flood
     of tiny DATA frames costs one pending credit per stream, not a frame
     each;
   - output is accepted only for streams the host opened, within
     BRIDGE_WINDOW per stream, in DATA frames of at most BRIDGE_DATA_MAX;
     anything else from a guest that knows the protocol is a violation, and
     the connection ends with the reason (on_closed);
   - bytes received but not yet credited (queued towards containerd's
     FIFOs) are capped at BRIDGE_QUEUED_MAX for the whole VM: beyond it the
     bridge is not read until readers catch up;
   - at most BRIDGE_READ_BUDGET bytes are processed per loop iteration, so
     a busy guest cannot delay the shim's other work by more than that;
   - frames that are well formed but meaningless (unknown type, response to
     no request, output for a stream the host never opened or closed
     already) are dropped and counted, and reported at most once a second.  */
#ifndef LCOW_UVM_BRIDGE_CONN_H
#define LCOW_UVM_BRIDGE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bridge_protocol.h"
#include "proto/base/error.h"

#define BRIDGE_OUT_MAX (1u << 20)
#define BRIDGE_QUEUED_MAX (16u << 20)
#define BRIDGE_READ_BUDGET (16u << 10)

struct bridge_conn;

struct bridge_conn_events
{
  /* Bytes arrived (the guest is alive).  */
  void (*on_read) (void *data);
  /* A notification (its JSON body; the hello too).  */
  void (*on_notify) (void *data, const uint8_t *body, size_t len);
  /* Output of an open stream (len 0: its end).  */
  void (*on_stream) (void *data, uint32_t process, uint8_t stream,
                     const uint8_t *bytes, size_t len);
  /* The guest passed on n bytes of an open process's stdin.  */
  void (*on_credit) (void *data, uint32_t process, uint32_t n);
  /* The connection ended: the guest closed it (violation NULL), or broke
     the protocol (why).  Pending requests have failed already.  No call
     after this one.  */
  void (*on_closed) (void *data, const char *violation);
};

/* A response: the JSON body, or err (the guest's error is in the body;
   err is a timeout or the connection gone).  */
typedef void (*bridge_reply_fn) (void *data, const char *body, size_t len,
                                 const shim_error *err);

/* Takes fd (a connected stream socket); uvm_id names the VM in the log.  */
struct bridge_conn *bridge_conn_new (uv_loop_t *loop, int fd,
                                     const char *uvm_id,
                                     const struct bridge_conn_events *events,
                                     void *data, shim_error **err);
/* A request; reply is called once (DeadlineExceeded after timeout_ms,
   Unavailable when the connection ends), never after bridge_conn_close.  */
int bridge_conn_request (struct bridge_conn *c, const char *body,
                         uint32_t timeout_ms, bridge_reply_fn reply,
                         void *data, shim_error **err);
/* A request nobody waits for (its response is dropped quietly).  */
int bridge_conn_post (struct bridge_conn *c, const char *body);
/* Streams of a process key the host chose: output for a key is accepted
   between open and close.  */
void bridge_conn_open_streams (struct bridge_conn *c, uint32_t process);
void bridge_conn_close_streams (struct bridge_conn *c, uint32_t process);
/* Stdin bytes for an open process (len 0 ends its stdin).  */
int bridge_conn_send_stdin (struct bridge_conn *c, uint32_t process,
                            const void *bytes, size_t len);
/* n bytes of an open stream's output were passed on.  */
void bridge_conn_credit (struct bridge_conn *c, uint32_t process,
                         uint8_t stream, uint32_t n);
/* Live migration.  On the source, hold: frames written from now on are
   kept (bounded as any output), while the guest is still read; release
   writes them (the migration was cancelled).  hand_over: at the guest's
   EOF (its VMM quit after the switchover) fn gets what the connection
   held, instead of on_closed, and the connection closes quietly; all
   output received is credited in it (the source still writes that to its
   FIFOs).  On the destination, adopt goes on from there: the streams are
   opened, the tail is fed to the decoder first and outbound written before
   anything else (takes fd).  */
struct bridge_handover
{
  /* The start of a frame the guest had begun to send.  */
  uint8_t *inbound_tail;
  size_t inbound_len;
  /* Whole frames the host had not sent (held frames, credit due).  */
  uint8_t *outbound;
  size_t outbound_len;
  uint32_t next_id;
  /* The process keys whose streams were open.  */
  uint32_t *streams;
  size_t nstreams;
};
/* At most BRIDGE_OUT_MAX bytes are held; the credit due adds a frame per
   open stream.  A handover (tail and outbound) fits a 4 MiB ttrpc frame.  */
#define BRIDGE_HANDOVER_OUT_MAX (2 * BRIDGE_OUT_MAX)
typedef void (*bridge_handover_fn) (void *data, struct bridge_handover *h);
void bridge_conn_hold (struct bridge_conn *c);
void bridge_conn_release (struct bridge_conn *c);
void bridge_conn_hand_over (struct bridge_conn *c, bridge_handover_fn fn,
                            void *data);
struct bridge_conn *
bridge_conn_adopt (uv_loop_t *loop, int fd, const char *uvm_id,
                   const struct bridge_conn_events *events, void *data,
                   const struct bridge_handover *h, shim_error **err);
void bridge_handover_release (struct bridge_handover *h);

/* Requests waiting for their response; the id the next one gets; the
   processes whose streams are open.  */
size_t bridge_conn_pending (const struct bridge_conn *c);
uint32_t bridge_conn_next_id (const struct bridge_conn *c);
size_t bridge_conn_open_stream_count (const struct bridge_conn *c);

/* Frames dropped so far (see above).  */
uint64_t bridge_conn_ignored (const struct bridge_conn *c);
/* Ends the connection: pending requests fail with Unavailable (why), or
   are dropped when quiet.  c is freed when libuv lets go; no callback of
   any kind after this.  */
void bridge_conn_close (struct bridge_conn *c, const char *why, bool quiet);

#endif
