/* How long the event loop went without polling: at every iteration, the
   time since the previous one less the time spent waiting in the kernel
   (libuv's idle-time metric) is the time callbacks held the loop.  Each
   new longest (over 1 ms) is a debug line, and any over LOOP_STALL_WARN_MS
   a warning, so a blocking call on the loop shows in the shim log with its
   length.  Costs two clock reads per iteration.  */
#ifndef LCOW_DAEMON_LOOP_WATCH_H
#define LCOW_DAEMON_LOOP_WATCH_H

#include <stdint.h>
#include <uv.h>

#define LOOP_STALL_WARN_MS 100

struct loop_watch
{
  uv_prepare_t prepare;
  uint64_t last_ns, last_idle_ns;
  uint64_t longest_ns;
};

/* Call before uv_run: it configures the loop's idle-time metric.  */
void loop_watch_start (uv_loop_t *loop, struct loop_watch *w);
/* Closes the handle (w stays the caller's).  */
void loop_watch_close (struct loop_watch *w);

#endif
