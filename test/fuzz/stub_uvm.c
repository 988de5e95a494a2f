/* See stub_uvm.h.  One VM at a time, as the daemon has.  */
#include "stub_uvm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/list.h"
#include "proto/base/xalloc.h"
#include "uvm/storage/layer_conversion.h"
#include "uvm/uvm.h"
#include "uvm/uvm_migration.h"

enum stub_state
{
  STUB_BOOTING,
  /* A migration's destination: its VMM waits for the source's VM.  */
  STUB_INCOMING,
  STUB_RUNNING,
  STUB_EXITED,
};

enum stub_migration
{
  MIG_NONE,
  MIG_SENDING,
  MIG_COMPLETED,
  MIG_HANDING_OVER,
  MIG_RECEIVING,
  MIG_ADOPTING,
};

struct pending
{
  struct list link;
  uvm_reply_fn reply; /* a request, or */
  uvm_done_fn done;   /* a disk attach */
  void *data;
};

struct uvm
{
  const struct uvm_events *events;
  void *data;
  enum stub_state state;
  /* Started to receive a migration, and said so to the daemon.  */
  bool incoming, incoming_reported;
  struct list requests;
  struct list attaches;
  uint32_t targets_in_use;
  enum stub_migration migration;
  /* The one migration call waiting for the VM, if any.  */
  uvm_describe_fn describe;
  uvm_handover_fn handover;
  uvm_adopted_fn adopted;
  void *migration_data;
};

struct layer_conversion
{
  struct list link;
  layer_conversion_fn done;
  void *data;
};

static struct uvm *live;
static bool fail_start, fail_build;
static struct list jobs = { &jobs, &jobs };

void
stub_uvm_fail_next_start (bool fail)
{
  fail_start = fail;
}

void
stub_image_fail_next_build (bool fail)
{
  fail_build = fail;
}

bool
stub_uvm_idle (void)
{
  return live == NULL && list_empty (&jobs);
}

/* ---- the VM ------------------------------------------------------------- */

int
uvm_start (uv_loop_t *loop, const struct uvm_config *cfg,
           const struct uvm_events *events, void *data, struct uvm **out,
           shim_error **err)
{
  (void) loop;
  (void) cfg;
  if (live != NULL)
    abort (); /* the daemon runs one VM */
  if (fail_start)
    {
      fail_start = false;
      return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                             "stub: the VMM did not start");
    }
  struct uvm *u = xzalloc (sizeof *u);
  u->events = events;
  u->data = data;
  list_init (&u->requests);
  list_init (&u->attaches);
  u->state = cfg->incoming ? STUB_INCOMING : STUB_BOOTING;
  u->incoming = cfg->incoming;
  live = u;
  *out = u;
  return 0;
}

bool
uvm_incoming (const struct uvm *u)
{
  return u->incoming;
}

int
uvm_pid (const struct uvm *u)
{
  return u->state == STUB_EXITED ? 0 : 4242;
}

/* Drops what is pending; with call_back, fails each in turn as the VM
   going away does, stopping if a callback destroyed the VM.  */
static void
fail_pending (struct uvm *u, struct list *l, bool call_back)
{
  while (live == u && !list_empty (l))
    {
      struct pending *p = list_entry (l->next, struct pending, link);
      list_remove (&p->link);
      shim_error gone = { GRPC_UNAVAILABLE, (char *) "stub: the VM is gone" };
      if (call_back && p->reply)
        p->reply (p->data, NULL, 0, &gone);
      else if (call_back)
        p->done (p->data, &gone);
      free (p);
    }
}

void
uvm_destroy (struct uvm *u)
{
  if (u == NULL)
    return;
  if (u != live)
    abort (); /* destroyed twice, or never started */
  /* No callback after destroy: what is pending is dropped.  */
  fail_pending (u, &u->requests, false);
  fail_pending (u, &u->attaches, false);
  live = NULL;
  free (u);
}

int
uvm_signal (struct uvm *u, int sig, shim_error **err)
{
  (void) sig;
  if (u->state == STUB_EXITED)
    return shim_error_set (err, GRPC_NOT_FOUND,
                           "process already finished: not found");
  return 0;
}

int
uvm_usage (const struct uvm *u, uint64_t *cpu_ns, uint64_t *rss_bytes)
{
  if (u->state == STUB_EXITED)
    return -1;
  *cpu_ns = 1000;
  *rss_bytes = 4096;
  return 0;
}

static void
add_pending (struct list *l, uvm_reply_fn reply, uvm_done_fn done, void *data)
{
  struct pending *p = xzalloc (sizeof *p);
  p->reply = reply;
  p->done = done;
  p->data = data;
  list_add_tail (l, &p->link);
}

int
uvm_request (struct uvm *u, const char *body, uint32_t timeout_ms,
             uvm_reply_fn reply, void *data, shim_error **err)
{
  (void) body;
  (void) timeout_ms;
  if (u->state != STUB_RUNNING)
    return shim_error_set (err, GRPC_UNAVAILABLE,
                           "the guest agent is not connected");
  add_pending (&u->requests, reply, NULL, data);
  return 0;
}

void
uvm_open_streams (struct uvm *u, uint32_t process)
{
  (void) u;
  (void) process;
}

void
uvm_close_streams (struct uvm *u, uint32_t process)
{
  (void) u;
  (void) process;
}

int
uvm_send_stream (struct uvm *u, uint32_t process, uint8_t stream,
                 const void *bytes, size_t len)
{
  (void) process;
  (void) stream;
  (void) bytes;
  (void) len;
  return u != NULL && u->state == STUB_RUNNING ? 0 : -1;
}

void
uvm_send_credit (struct uvm *u, uint32_t process, uint8_t stream, uint32_t n)
{
  (void) u;
  (void) process;
  (void) stream;
  (void) n;
}

int
uvm_reserve_scsi_target (struct uvm *u, uint32_t *target, shim_error **err)
{
  if (u->state != STUB_RUNNING)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "the VM is gone");
  if (*target != 0)
    {
      if (*target >= 32 || (u->targets_in_use & (1u << *target)))
        return shim_error_set (err, GRPC_FAILED_PRECONDITION, "taken");
      u->targets_in_use |= 1u << *target;
      return 0;
    }
  for (uint32_t t = 1; t < 32; t++)
    if (!(u->targets_in_use & (1u << t)))
      {
        u->targets_in_use |= 1u << t;
        *target = t;
        return 0;
      }
  return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED, "no SCSI target left");
}

void
uvm_release_scsi_target (struct uvm *u, uint32_t target)
{
  if (target == 0 || target >= 32 || !(u->targets_in_use & (1u << target)))
    abort (); /* released twice, or never reserved */
  u->targets_in_use &= ~(1u << target);
}

int
uvm_attach_disk (struct uvm *u, const char *image, uint32_t target,
                 uvm_done_fn done, void *data, shim_error **err)
{
  (void) image;
  if (u->state != STUB_RUNNING)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "the VM is gone");
  if (!(u->targets_in_use & (1u << target)))
    abort (); /* a disk on a target nobody reserved */
  add_pending (&u->attaches, NULL, done, data);
  return 0;
}

/* ---- events the harness sends ------------------------------------------- */

void
stub_uvm_started (bool ok)
{
  struct uvm *u = live;
  if (u != NULL && u->state == STUB_INCOMING && !u->incoming_reported)
    {
      /* An incoming VM is "started" once its VMM waits.  */
      u->incoming_reported = true;
      u->events->on_started (u->data, NULL);
      return;
    }
  if (u == NULL || u->state != STUB_BOOTING)
    return;
  if (ok)
    {
      u->state = STUB_RUNNING;
      u->events->on_started (u->data, NULL);
      return;
    }
  shim_error e = { GRPC_DEADLINE_EXCEEDED, (char *) "stub: no hello" };
  u->state = STUB_EXITED;
  u->events->on_started (u->data, &e); /* the daemon destroys it */
}

static void migration_gone (struct uvm *u);

void
stub_uvm_exited (int64_t status)
{
  struct uvm *u = live;
  if (u == NULL || (u->state != STUB_RUNNING && u->state != STUB_INCOMING))
    return;
  u->state = STUB_EXITED;
  migration_gone (u);
  if (live != u)
    return;
  /* As the real VM: requests in flight fail before the exit is reported.  */
  fail_pending (u, &u->requests, true);
  fail_pending (u, &u->attaches, true);
  if (live == u)
    u->events->on_exited (u->data, status, 0);
}

void
stub_uvm_notify_exit (uint32_t process, uint32_t status)
{
  if (live == NULL || live->state != STUB_RUNNING)
    return;
  char body[96];
  int n = snprintf (body, sizeof body,
                    "{\"type\":\"exit\",\"process\":%u,\"status\":%u}",
                    process, status);
  live->events->on_notify (live->data, body, (size_t) n);
}

void
stub_uvm_stream (uint32_t process, uint8_t stream, const uint8_t *bytes,
                 size_t len)
{
  if (live != NULL && live->state == STUB_RUNNING)
    live->events->on_stream (live->data, process, stream, bytes, len);
}

void
stub_uvm_credit (uint32_t process, uint32_t n)
{
  if (live != NULL && live->state == STUB_RUNNING)
    live->events->on_credit (live->data, process, 0, n);
}

void
stub_uvm_reply (bool ok, uint32_t pid)
{
  if (live == NULL || list_empty (&live->requests))
    return;
  struct pending *p = list_entry (live->requests.next, struct pending, link);
  list_remove (&p->link);
  char body[96];
  int n = ok ? snprintf (body, sizeof body, "{\"pid\":%u}", pid)
             : snprintf (body, sizeof body,
                         "{\"error\":\"stub: refused\",\"code\":9}");
  p->reply (p->data, body, (size_t) n, NULL);
  free (p);
}

void
stub_uvm_finish_attach (bool ok)
{
  if (live == NULL || list_empty (&live->attaches))
    return;
  struct pending *p = list_entry (live->attaches.next, struct pending, link);
  list_remove (&p->link);
  shim_error e = { GRPC_INTERNAL, (char *) "stub: device_add failed" };
  p->done (p->data, ok ? NULL : &e);
  free (p);
}

/* ---- layer conversions ------------------------------------------------- */

int
layer_conversion_start (uv_loop_t *loop,
                        const struct layer_conversion_request *req,
                        layer_conversion_fn done, void *data,
                        struct layer_conversion **out, shim_error **err)
{
  (void) loop;
  (void) req;
  if (fail_build)
    {
      fail_build = false;
      return shim_error_set (err, GRPC_INTERNAL, "stub: spawn failed");
    }
  struct layer_conversion *j = xzalloc (sizeof *j);
  j->done = done;
  j->data = data;
  list_add_tail (&jobs, &j->link);
  *out = j;
  return 0;
}

void
layer_conversion_cancel (struct layer_conversion *job)
{
  if (job == NULL)
    return;
  list_remove (&job->link);
  free (job);
}

/* Every stub image has this digest: an adoption names it or another.  */
#define STUB_IMAGE_DIGEST                                                     \
  "0000000000000000000000000000000000000000000000000000000000000000"

void
stub_image_finish_build (bool ok)
{
  if (list_empty (&jobs))
    return;
  struct layer_conversion *j
      = list_entry (jobs.next, struct layer_conversion, link);
  list_remove (&j->link);
  layer_conversion_fn done = j->done;
  void *data = j->data;
  free (j);
  shim_error e = { GRPC_INTERNAL, (char *) "stub: mkfs.erofs failed" };
  done (data, -1, ok ? "sha256:" STUB_IMAGE_DIGEST : NULL, ok ? NULL : &e);
}

/* ---- live migration ----------------------------------------------------- */

static void
check_one_call (const struct uvm *u)
{
  if (u->describe != NULL || u->handover != NULL || u->adopted != NULL)
    abort (); /* the daemon runs one migration call at a time */
}

int
uvm_describe (struct uvm *u, uvm_describe_fn done, void *data,
              shim_error **err)
{
  if (u->state == STUB_EXITED)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "the VM is gone");
  check_one_call (u);
  u->describe = done;
  u->migration_data = data;
  return 0;
}

int
uvm_migrate_out (struct uvm *u, const char *uri, const char *token,
                 shim_error **err)
{
  (void) uri;
  (void) token;
  if (u->state != STUB_RUNNING || u->migration != MIG_NONE)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "stub: cannot migrate now");
  u->migration = MIG_SENDING;
  return 0;
}

void
uvm_migration_progress (const struct uvm *u,
                        struct uvm_migration_progress *out)
{
  static const char *const names[]
      = { "", "active", "completed", "completed", "receiving", "receiving" };
  *out = (struct uvm_migration_progress){ 0 };
  snprintf (out->status, sizeof out->status, "%s", names[u->migration]);
}

bool
uvm_migration_under_way (const struct uvm *u)
{
  return u->migration != MIG_NONE;
}

bool
uvm_migration_completed (const struct uvm *u)
{
  return u->migration == MIG_COMPLETED || u->migration == MIG_HANDING_OVER;
}

int
uvm_migration_cancel (struct uvm *u, shim_error **err)
{
  if (u->state == STUB_INCOMING || u->migration == MIG_SENDING)
    {
      u->migration = MIG_NONE;
      return 0;
    }
  return shim_error_set (err, GRPC_FAILED_PRECONDITION, "stub: nothing");
}

int
uvm_migration_hand_over (struct uvm *u, uvm_handover_fn done, void *data,
                         shim_error **err)
{
  if (u->migration != MIG_COMPLETED)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "stub: not completed");
  check_one_call (u);
  u->migration = MIG_HANDING_OVER;
  u->handover = done;
  u->migration_data = data;
  return 0;
}

int
uvm_migration_listen (struct uvm *u, char **uri,
                      char token[MIGRATION_TOKEN_LEN + 1], shim_error **err)
{
  if (u->state != STUB_INCOMING || u->migration != MIG_NONE)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "stub: not waiting");
  u->migration = MIG_RECEIVING;
  *uri = xstrdup ("unix:/stub/migration");
  snprintf (token, MIGRATION_TOKEN_LEN + 1, "%0*d", MIGRATION_TOKEN_LEN, 0);
  return 0;
}

int
uvm_migration_adopt (struct uvm *u, const struct bridge_handover *h,
                     uvm_adopted_fn done, void *data, shim_error **err)
{
  (void) h;
  if (u->migration != MIG_RECEIVING)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "stub: nothing received");
  check_one_call (u);
  u->migration = MIG_ADOPTING;
  u->adopted = done;
  u->migration_data = data;
  return 0;
}

/* The VM went away: the call waiting for it fails, as the real one's.  */
static void
migration_gone (struct uvm *u)
{
  shim_error gone = { GRPC_UNAVAILABLE, (char *) "stub: the VMM exited" };
  void *data = u->migration_data;
  uvm_describe_fn describe = u->describe;
  uvm_adopted_fn adopted = u->adopted;
  uvm_handover_fn handover = u->handover;
  u->describe = NULL;
  u->adopted = NULL;
  u->handover = NULL;
  if (describe != NULL)
    describe (data, NULL, &gone);
  else if (adopted != NULL)
    adopted (data, 0, &gone);
  else if (handover != NULL)
    {
      /* The source's VMM quit after the switchover: the bridge's tail.  */
      struct bridge_handover h = { .next_id = 7 };
      handover (data, &h, NULL);
    }
}

void
stub_uvm_migration_step (bool ok)
{
  struct uvm *u = live;
  if (u == NULL)
    return;
  void *data = u->migration_data;
  if (u->describe != NULL)
    {
      uvm_describe_fn done = u->describe;
      u->describe = NULL;
      struct vm_description d = { .vmm = (char *) "qemu",
                                  .accel = (char *) "tcg",
                                  .memory_mb = ok ? 512 : 1024 };
      shim_error e = { GRPC_INTERNAL, (char *) "stub: no description" };
      done (data, ok ? &d : NULL, ok ? NULL : &e);
    }
  else if (u->adopted != NULL)
    {
      uvm_adopted_fn done = u->adopted;
      u->adopted = NULL;
      shim_error e = { GRPC_FAILED_PRECONDITION, (char *) "stub: no ping" };
      u->migration = MIG_NONE;
      if (ok)
        u->state = STUB_RUNNING;
      done (data, 1234, ok ? NULL : &e);
    }
  else if (u->handover != NULL)
    /* The VMM quits; its exit hands the bridge over.  */
    stub_uvm_exited (0);
  else if (u->migration == MIG_SENDING)
    u->migration = ok ? MIG_COMPLETED : MIG_NONE;
}

/* ---- host share --------------------------------------------------------- */

/* The harness's sandboxes run the exec VMM: no share, no bind.  */
int
uvm_share_bind (struct uvm *u, const char *source,
                const struct bind_options *options, char **guest_path,
                shim_error **err)
{
  (void) u;
  (void) source;
  (void) options;
  (void) guest_path;
  return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                         "stub: no host directory share");
}

void
uvm_share_unbind (struct uvm *u, const char *guest_path)
{
  (void) u;
  (void) guest_path;
  abort (); /* nothing was bound */
}
