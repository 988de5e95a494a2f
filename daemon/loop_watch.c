/* See loop_watch.h.  */
#include "loop_watch.h"

#include <stdbool.h>
#include <stdio.h>

#include "proto/base/log.h"

/* Shorter new longest iterations are not worth a debug line.  */
#define LOOP_WATCH_LOG_NS 1000000u

static void
on_prepare (uv_prepare_t *p)
{
  struct loop_watch *w = p->data;
  uint64_t now = uv_hrtime ();
  uint64_t idle = uv_metrics_idle_time (p->loop);
  uint64_t span = now - w->last_ns;
  uint64_t waited = idle - w->last_idle_ns;
  uint64_t held = span > waited ? span - waited : 0;
  w->last_ns = now;
  w->last_idle_ns = idle;
  bool longest = held > w->longest_ns;
  bool stall = held >= (uint64_t) LOOP_STALL_WARN_MS * 1000000u;
  if (longest)
    w->longest_ns = held;
  if (stall || (longest && held >= LOOP_WATCH_LOG_NS))
    {
      char us[24];
      snprintf (us, sizeof us, "%llu", (unsigned long long) (held / 1000u));
      log_entry (stall ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
                 stall ? "event loop held by one iteration"
                       : "event loop: longest iteration so far",
                 (struct log_field[]){ { "us", us } }, 1);
    }
}

void
loop_watch_start (uv_loop_t *loop, struct loop_watch *w)
{
  int r = uv_loop_configure (loop, UV_METRICS_IDLE_TIME);
  if (r < 0)
    log_warn ("event loop watch: no idle-time metric (%s): the times it "
              "logs include waiting",
              uv_strerror (r));
  uv_prepare_init (loop, &w->prepare);
  w->prepare.data = w;
  w->last_ns = uv_hrtime ();
  w->last_idle_ns = uv_metrics_idle_time (loop);
  w->longest_ns = 0;
  uv_prepare_start (&w->prepare, on_prepare);
  /* It watches; it does not keep the loop running.  */
  uv_unref ((uv_handle_t *) &w->prepare);
}

static void
on_closed (uv_handle_t *h)
{
  (void) h;
}

void
loop_watch_close (struct loop_watch *w)
{
  char us[24];
  snprintf (us, sizeof us, "%llu",
            (unsigned long long) (w->longest_ns / 1000u));
  log_entry (LOG_LEVEL_INFO, "event loop: longest iteration",
             (struct log_field[]){ { "us", us } }, 1);
  uv_close ((uv_handle_t *) &w->prepare, on_closed);
}
