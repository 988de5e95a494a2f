/* See pod_cgroup_removal.h.  */
#include "pod_cgroup_removal.h"

#include <stdlib.h>

#include "pod_cgroup.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"

struct cgroup_removal
{
  uv_timer_t timer;
  char *dir;
  char *owner;
  unsigned waited_ms;
};

static void
removal_free (uv_handle_t *h)
{
  struct cgroup_removal *r = h->data;
  free (r->dir);
  free (r->owner);
  free (r);
}

/* One attempt: true when the removal is over (done, or given up).  */
static bool
attempt (struct cgroup_removal *r)
{
  shim_error *err = NULL;
  if (pod_cgroup_remove (POD_CGROUP_MOUNTINFO, r->dir, &err) == 0)
    return true;
  bool last = r->waited_ms >= POD_CGROUP_RETRY_MAX_MS;
  if (last)
    log_warn ("uvm %s: %s", r->owner, err->msg);
  shim_error_free (err);
  return last;
}

static void
on_retry (uv_timer_t *t)
{
  struct cgroup_removal *r = t->data;
  r->waited_ms += POD_CGROUP_RETRY_MS;
  if (attempt (r))
    uv_close ((uv_handle_t *) t, removal_free);
}

void
pod_cgroup_remove_when_empty (uv_loop_t *loop, const char *dir,
                              const char *owner)
{
  struct cgroup_removal *r = xzalloc (sizeof *r);
  r->dir = xstrdup (dir);
  r->owner = xstrdup (owner);
  uv_timer_init (loop, &r->timer);
  r->timer.data = r;
  if (attempt (r))
    {
      uv_close ((uv_handle_t *) &r->timer, removal_free);
      return;
    }
  uv_timer_start (&r->timer, on_retry, POD_CGROUP_RETRY_MS,
                  POD_CGROUP_RETRY_MS);
}
