/* See migration_service.h.  */
#include "migration_service.h"
#include "service_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_adoption.h"
#include "migration.pb-c.h"
#include "migration_containers.h"
#include "policy/migration.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "proto/pb_pack.h"
#include "sandbox.h"
#include "migration_state.h"
#include "task.h"
#include "uvm/config/shim_config.h"
#include "uvm/uvm_migration.h"

/* Streams and exits one handover may carry: a pod's processes.  */
#define HANDOVER_STREAMS_MAX (4 * MIGRATION_CONTAINERS_MAX)

/* The one call waiting for the VM (describe, hand over, adopt), answered
   by its callback, or failed when the sandbox ends first (no callback
   comes after its VM is destroyed).  */
struct migration_op
{
  struct task_service *ts;
  struct ttrpc_call *call;
  /* Import: the source's description, to compare with ours.  */
  struct vm_description source;
  /* Export: the containers that move.  */
  struct migrating_set moving;
  /* Finalize at the destination: the source's streams and held exits.  */
  struct stream_handover *streams;
  size_t nstreams;
  struct held_exit *exits;
  size_t nexits;
};

static struct migration_op *
op_new (struct task_service *ts, struct ttrpc_call *call)
{
  struct migration_op *op = xzalloc (sizeof *op);
  op->ts = ts;
  op->call = call;
  service_migration (ts)->op = op;
  return op;
}

static void
op_free (struct migration_op *op)
{
  if (service_migration (op->ts)->op == op)
    service_migration (op->ts)->op = NULL;
  vm_description_release (&op->source);
  migrating_set_release (&op->moving);
  free (op->streams);
  for (size_t i = 0; i < op->nexits; i++)
    free ((char *) op->exits[i].message);
  free (op->exits);
  free (op);
}

/* A timer of the migration (migration_part's deadline, exec_wait); its
   own allocation: it closes after the service record may be gone.  */
struct migration_deadline
{
  uv_timer_t timer;
  struct task_service *ts;
  /* exec_wait: when the awaited execs count as stuck (uv_now).  */
  uint64_t until;
  /* deadline: it waited once more for a transfer under way.  */
  bool extended;
};

static void
on_deadline_closed (uv_handle_t *h)
{
  free (h->data);
}

static void
timer_stop (struct migration_deadline **slot)
{
  struct migration_deadline *d = *slot;
  if (d == NULL)
    return;
  *slot = NULL;
  d->timer.data = d;
  uv_close ((uv_handle_t *) &d->timer, on_deadline_closed);
}

static struct migration_deadline *
timer_arm (struct task_service *ts, struct migration_deadline **slot,
           uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
  if (*slot == NULL)
    {
      *slot = xzalloc (sizeof **slot);
      (*slot)->ts = ts;
      uv_timer_init (service_config (ts)->loop, &(*slot)->timer);
      (*slot)->timer.data = *slot;
    }
  (*slot)->extended = false;
  uv_timer_start (&(*slot)->timer, cb, timeout, repeat);
  return *slot;
}

static bool advance (struct task_service *ts, enum migration_event ev);
static bool takes (const struct task_service *ts, enum migration_event ev);
static void export_given_up (struct task_service *ts);

/* An exported source or an importing destination waits this long for the
   transfer to begin (migration_prepare_timeout_ms); then the migration
   is given up as a Cancel would: a source runs on, unfrozen, a
   destination stops its VMM.  */
static void
on_deadline (uv_timer_t *t)
{
  struct migration_deadline *d = t->data;
  struct task_service *ts = d->ts;
  struct uvm *u = sandbox_uvm (ts);
  struct migration_part *m = service_migration (ts);
  uint32_t ms = sandbox_config (ts)->migration_prepare_timeout_ms;
  /* A source's transfer under way has its own bound
     (migration_timeout_ms).  A destination whose stream began waits that
     long and the orchestrator's time again for the handover: a source
     gone past its switchover must not leave it waiting for ever.  */
  if (u != NULL && uvm_migration_under_way (u)
      && (migration_state_source (m->state) || !d->extended))
    {
      d->extended = true;
      uv_timer_start (
          t, on_deadline,
          (uint64_t) ms + sandbox_config (ts)->migration_timeout_ms, 0);
      return;
    }
  if (u != NULL && uvm_migration_under_way (u))
    {
      /* No resync: the VM's state may have gone on here, the source's
         bridge with it.  The containers go first, with this reason (the
         give-up finds none left to abandon).  */
      guest_adoption_abandon (ts, "no handover came from the live "
                                  "migration's source (gone before its "
                                  "Finalize?): the VM is stopped and the "
                                  "container exits");
      log_entry (LOG_LEVEL_WARN,
                 "live migration given up: the source's handover never "
                 "came; stopping the VM",
                 (struct log_field[]){ { "sandbox", sandbox_id (ts) } }, 1);
      migration_give_up (ts, "no handover from the source");
      return;
    }
  char wait[24];
  snprintf (wait, sizeof wait, "%u", ms);
  log_entry (
      LOG_LEVEL_WARN,
      "live migration given up: no transfer began within "
      "migration_prepare_timeout_ms",
      (struct log_field[]){
          { "sandbox", sandbox_id (ts) },
          { "state", migration_state_name (service_migration (ts)->state) },
          { "timeout_ms", wait } },
      3);
  shim_error *err = NULL;
  if (u != NULL && uvm_migration_cancel (u, &err) < 0)
    shim_error_free (err);
  if (takes (ts, MIGRATION_EV_CANCEL))
    advance (ts, MIGRATION_EV_CANCEL);
}

static void
deadline_start (struct task_service *ts)
{
  timer_arm (ts, &service_migration (ts)->deadline, on_deadline,
             sandbox_config (ts)->migration_prepare_timeout_ms, 0);
}

static void
deadline_stop (struct task_service *ts)
{
  timer_stop (&service_migration (ts)->deadline);
}

static bool
destination_imported (enum migration_state s)
{
  return s == MIGRATION_IMPORTING || s == MIGRATION_IMPORTED
         || s == MIGRATION_PREPARED || s == MIGRATION_ADOPTING;
}

/* What follows a change of state for the pod's processes: a source whose
   migration ended here delivers the exits it held; a destination whose
   migration ends without a switchover lets its adopted containers go.  */
static void
on_state_changed (struct task_service *ts, enum migration_state was,
                  enum migration_event ev)
{
  struct migration_part *m = service_migration (ts);
  if (was == MIGRATION_AWAITING_EXECS)
    {
      timer_stop (&m->exec_wait);
      if (ev == MIGRATION_EV_CANCEL || ev == MIGRATION_EV_GIVE_UP)
        export_given_up (ts);
    }
  if (m->state == MIGRATION_EXPORTED || m->state == MIGRATION_IMPORTED)
    deadline_start (ts);
  else if (m->state != MIGRATION_PREPARED && m->state != MIGRATION_HANDING_OVER
           && m->state != MIGRATION_ADOPTING)
    deadline_stop (ts);
  if (migration_state_holds_exits (was) && m->state == MIGRATION_NONE)
    guest_deliver_held_exits (ts);
  if (destination_imported (was) && !destination_imported (m->state))
    {
      if (ev != MIGRATION_EV_ADOPTED)
        guest_adoption_abandon (ts, "the migration ended without a "
                                    "switchover: the container runs on at "
                                    "the source");
      migrating_set_release (&m->incoming);
    }
}

/* The one place the state moves; an event the table does not take in
   the current state changes nothing and is logged (a bug).  */
static bool
advance (struct task_service *ts, enum migration_event ev)
{
  enum migration_state next;
  if (!migration_state_next (service_migration (ts)->state, ev, &next))
    {
      log_error ("migration: event %s refused in state %s",
                 migration_event_name (ev),
                 migration_state_name (service_migration (ts)->state));
      return false;
    }
  log_entry (
      LOG_LEVEL_DEBUG, "migration state",
      (struct log_field[]){
          { "sandbox", sandbox_id (ts) ? sandbox_id (ts) : "?" },
          { "from", migration_state_name (service_migration (ts)->state) },
          { "to", migration_state_name (next) },
          { "event", migration_event_name (ev) } },
      4);
  enum migration_state was = service_migration (ts)->state;
  service_migration (ts)->state = next;
  on_state_changed (ts, was, ev);
  return true;
}

/* Whether the table takes ev now (nothing moves).  */
static bool
takes (const struct task_service *ts, enum migration_event ev)
{
  enum migration_state next;
  return migration_state_next (service_migration (ts)->state, ev, &next);
}

/* The end of a call that waited for the VM: a Cancel or a Kill may have
   moved the state meanwhile, and then it stays where they put it.  */
static void
settle (struct task_service *ts, enum migration_event ev)
{
  if (takes (ts, ev))
    advance (ts, ev);
}

/* Whether a call may start that waits for the VM: the table takes ev, and
   no other such call is under way (a Cancel moves the state at once, the
   call it interrupted still ends in its own time).  */
static bool
may_start (const struct task_service *ts, enum migration_event ev)
{
  return takes (ts, ev) && service_migration (ts)->op == NULL;
}

void
migration_incoming_created (struct task_service *ts)
{
  advance (ts, MIGRATION_EV_CREATED_INCOMING);
}

bool
migration_moved (const struct task_service *ts)
{
  return service_migration (ts)->state == MIGRATION_MOVED;
}

void
migration_sandbox_ending (struct task_service *ts)
{
  struct migration_op *op = service_migration (ts)->op;
  migrating_set_release (&service_migration (ts)->incoming);
  free (service_migration (ts)->handover_reply.data);
  service_migration (ts)->handover_reply = (ProtobufCBinaryData){ 0 };
  deadline_stop (ts);
  timer_stop (&service_migration (ts)->exec_wait);
  if (op == NULL)
    return;
  ttrpc_call_fail_code (op->call, GRPC_UNAVAILABLE,
                        "the sandbox ended during the migration");
  op_free (op);
}

bool
migration_refuses (struct task_service *ts, struct ttrpc_call *call,
                   const struct task *t)
{
  enum migration_call_rule rule = ttrpc_call_policy (call);
  enum migration_subject subject = t == NULL ? MIGRATION_SUBJECT_OTHER
                                   : t->kind == TASK_POD_SANDBOX
                                       ? MIGRATION_SUBJECT_SANDBOX
                                   : t->adopted ? MIGRATION_SUBJECT_ADOPTED
                                                : MIGRATION_SUBJECT_OTHER;
  const char *method = ttrpc_call_method (call);
  const char *what
      = strrchr (method, '/') ? strrchr (method, '/') + 1 : method;
  /* From the barrier on, a request to the source's guest would be held
     and answered at the destination: a caller that retries gets it from
     whichever side runs the pod then.  */
  struct uvm *u = sandbox_uvm (ts);
  if (rule == MIGRATION_CALL_SERVED_BUT_ADOPTED
      && subject == MIGRATION_SUBJECT_OTHER
      && migration_state_source (service_migration (ts)->state) && u != NULL
      && uvm_migration_under_way (u))
    {
      ttrpc_call_fail_code (call, GRPC_UNAVAILABLE,
                            "sandbox %s is being transferred to another "
                            "shim: %s is unavailable until the migration "
                            "ends",
                            sandbox_id (ts), what);
      return true;
    }
  if (!migration_call_refused (rule, service_migration (ts)->state, subject))
    return false;
  if (subject == MIGRATION_SUBJECT_ADOPTED)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "container %s is adopted from a live migration's "
                          "source, where it runs until the migration is "
                          "finalized: %s is refused until then",
                          t->id, what);
  else
    ttrpc_call_fail_code (
        call, GRPC_FAILED_PRECONDITION,
        "sandbox %s is migrating (%s): %s is refused until the migration is "
        "finalized or cancelled",
        sandbox_id (ts) ? sandbox_id (ts) : "?",
        service_migration (ts)->state == MIGRATION_AWAITING_EXECS
            ? "its export awaits the pod's exec'd processes"
        : migration_state_source (service_migration (ts)->state)
            ? "exported to another shim"
            : "incoming from another shim",
        what);
  return true;
}

/* Claims of Creates that failed since, or that are still attaching their
   layers, do not count.  */
static bool
adoption_done (struct task_service *ts, const struct migrating_container *c)
{
  struct task *t = c->adopted_by ? task_find (ts, c->adopted_by) : NULL;
  return t != NULL && t->adopted && !t->creating;
}

static void
forget_failed_claims (struct task_service *ts)
{
  struct migrating_set *set = &service_migration (ts)->incoming;
  for (size_t i = 0; i < set->n; i++)
    if (set->items[i].adopted_by != NULL
        && task_find (ts, set->items[i].adopted_by) == NULL)
      migrating_set_unclaim (set, set->items[i].adopted_by);
}

const struct migrating_container *
migration_adoption_claim (struct task_service *ts, struct ttrpc_call *call,
                          const char *task_id, const char *source_id,
                          const char *process_digest)
{
  shim_error *err = NULL;
  const struct migrating_container *c = NULL;
  if (service_migration (ts)->state != MIGRATION_IMPORTED)
    shim_error_set (&err, GRPC_FAILED_PRECONDITION,
                    "this sandbox adopts containers only between a "
                    "migration's Import and Prepare (it is %s)",
                    migration_state_name (service_migration (ts)->state));
  else
    {
      forget_failed_claims (ts);
      c = migrating_set_claim (&service_migration (ts)->incoming, source_id,
                               task_id, process_digest, &err);
    }
  if (c == NULL)
    {
      shim_error_wrap (&err, "create %s: adopt (annotation %s)", task_id,
                       ANNOTATION_MIGRATION_SOURCE_CONTAINER);
      log_error ("%s", err->msg);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
    }
  return c;
}

void
migration_give_up (struct task_service *ts, const char *why)
{
  struct uvm *u = sandbox_uvm (ts);
  if (u == NULL || !takes (ts, MIGRATION_EV_GIVE_UP))
    return;
  shim_error *err = NULL;
  if (uvm_migration_cancel (u, &err) < 0)
    shim_error_free (err);
  advance (ts, MIGRATION_EV_GIVE_UP);
  log_entry (
      LOG_LEVEL_WARN, "live migration given up",
      (struct log_field[]){ { "sandbox", sandbox_id (ts) }, { "by", why } },
      2);
}

/* The VM of the sandbox task id (stopped or not), or the call failed.  */
static struct uvm *
sandbox_named (struct task_service *ts, struct ttrpc_call *call,
               const char *id, const char *what)
{
  struct task *t = sandbox_task (ts);
  struct uvm *u = sandbox_uvm (ts);
  if (t != NULL && u != NULL && strcmp (t->id, id) == 0)
    return u;
  ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                        "%s %s: no sandbox of that id in this shim: not found",
                        what, id);
  return NULL;
}

/* The VM of the sandbox task id, running, or the call failed.  */
static struct uvm *
sandbox_vm (struct task_service *ts, struct ttrpc_call *call, const char *id,
            const char *what)
{
  struct uvm *u = sandbox_named (ts, call, id, what);
  if (u != NULL && sandbox_task (ts)->exited)
    {
      ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                            "%s %s: the sandbox has stopped", what, id);
      return NULL;
    }
  return u;
}

static void
fail_wrapped (struct ttrpc_call *call, const shim_error *err, const char *what,
              const char *id)
{
  shim_error e = { err->code, xasprintf ("%s %s: %s", what, id, err->msg) };
  log_error ("%s", e.msg);
  ttrpc_call_fail (call, &e);
  free (e.msg);
}

/* ---- descriptions on the wire ------------------------------------------ */

static void
description_to_pb (const struct vm_description *d, const char *sandbox,
                   Pb__VmDescription *out, Pb__BootFile *files,
                   Pb__BootFile **file_ptrs)
{
  pb__vm_description__init (out);
  out->sandbox_id = (char *) sandbox;
  out->vmm = d->vmm;
  out->qemu_version = d->qemu_version;
  out->accel = d->accel;
  out->cpu_model = d->cpu_model;
  out->machine = d->machine;
  out->cpus = d->cpus;
  out->memory_mb = d->memory_mb;
  out->kernel_cmdline = d->kernel_cmdline;
  out->network = d->network;
  out->guest_uptime_ms = d->guest_uptime_ms;
  out->bridge_next_request_id = d->bridge_next_request_id;
  out->bridge_open_streams = d->bridge_open_streams;
  for (size_t i = 0; i < d->nboot_files; i++)
    {
      pb__boot_file__init (&files[i]);
      files[i].name = d->boot_files[i].name;
      files[i].sha256 = (char *) d->boot_files[i].sha256;
      files[i].bytes = d->boot_files[i].bytes;
      file_ptrs[i] = &files[i];
    }
  out->n_boot_files = d->nboot_files;
  out->boot_files = file_ptrs;
}

static int
description_from_pb (const Pb__VmDescription *in, struct vm_description *d,
                     shim_error **err)
{
  if (in == NULL)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "source: the VM's description is missing");
  if (in->n_boot_files > VM_BOOT_FILES_MAX)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "source: %zu boot files (at most %d)",
                           in->n_boot_files, VM_BOOT_FILES_MAX);
  d->vmm = xstrdup (in->vmm);
  d->qemu_version = xstrdup (in->qemu_version);
  d->accel = xstrdup (in->accel);
  d->cpu_model = xstrdup (in->cpu_model);
  d->machine = xstrdup (in->machine);
  d->cpus = in->cpus;
  d->memory_mb = in->memory_mb;
  d->kernel_cmdline = xstrdup (in->kernel_cmdline);
  d->network = in->network;
  d->guest_uptime_ms = in->guest_uptime_ms;
  for (size_t i = 0; i < in->n_boot_files; i++)
    {
      struct vm_boot_file *f = &d->boot_files[d->nboot_files++];
      f->name = xstrdup (in->boot_files[i]->name);
      snprintf (f->sha256, sizeof f->sha256, "%s", in->boot_files[i]->sha256);
      f->bytes = in->boot_files[i]->bytes;
    }
  return 0;
}

/* ---- Export ------------------------------------------------------------- */

static void
on_exported (void *data, struct vm_description *d, const shim_error *err)
{
  struct migration_op *op = data;
  struct task_service *ts = op->ts;
  const char *id = sandbox_task (ts)->id;
  if (err != NULL)
    {
      settle (ts, MIGRATION_EV_FAILED);
      fail_wrapped (op->call, err, "export", id);
      op_free (op);
      return;
    }
  settle (ts, MIGRATION_EV_DESCRIBED);
  Pb__VmDescription vm;
  Pb__BootFile files[VM_BOOT_FILES_MAX];
  Pb__BootFile *ptrs[VM_BOOT_FILES_MAX];
  description_to_pb (d, id, &vm, files, ptrs);
  Pb__ExportResponse resp = PB__EXPORT_RESPONSE__INIT;
  resp.vm = &vm;
  migrating_set_to_pb (&op->moving, &resp);
  char n[16];
  snprintf (n, sizeof n, "%zu", op->moving.n);
  log_entry (LOG_LEVEL_INFO, "sandbox exported for live migration",
             (struct log_field[]){ { "sandbox", id },
                                   { "qemu", d->qemu_version },
                                   { "accel", d->accel },
                                   { "containers", n } },
             4);
  ttrpc_call_reply (op->call, &resp.base);
  migrating_set_pb_free (&resp);
  op_free (op);
}

/* The Export's end without a description: back to NONE, the call failed
   with err's reason.  */
static void
export_fail (struct migration_op *op, const shim_error *err)
{
  settle (op->ts, MIGRATION_EV_FAILED);
  fail_wrapped (op->call, err, "export", sandbox_task (op->ts)->id);
  op_free (op);
}

/* Collects what moves and freezes it: the VM is described next.  */
static void
export_begin (struct migration_op *op)
{
  struct task_service *ts = op->ts;
  shim_error *err = NULL;
  if (migrating_set_collect (ts, &op->moving, &err) == 0)
    {
      /* Frozen from here: what is described is what moves.  */
      advance (ts, MIGRATION_EV_EXPORT);
      if (uvm_describe (sandbox_uvm (ts), on_exported, op, &err) == 0)
        return;
    }
  export_fail (op, err);
  shim_error_free (err);
}

/* A Cancel or a Kill ended the wait for the execs.  */
static void
export_given_up (struct task_service *ts)
{
  struct migration_op *op = service_migration (ts)->op;
  if (op == NULL)
    return;
  ttrpc_call_fail_code (op->call, GRPC_ABORTED,
                        "export %s: cancelled while awaiting the pod's "
                        "exec'd processes",
                        sandbox_task (ts)->id);
  op_free (op);
}

#define EXEC_WAIT_POLL_MS 100

static void
on_exec_wait (uv_timer_t *t)
{
  struct migration_deadline *d = t->data;
  struct task_service *ts = d->ts;
  struct migration_op *op = service_migration (ts)->op;
  shim_error *err = NULL;
  if (migration_running_execs (ts, &err) == 0)
    {
      timer_stop (&service_migration (ts)->exec_wait);
      export_begin (op);
      return;
    }
  if (uv_now (service_config (ts)->loop) >= d->until)
    {
      err->code = GRPC_DEADLINE_EXCEEDED;
      shim_error_wrap (&err,
                       "still running after migration_timeout_ms (%u ms)",
                       sandbox_config (ts)->migration_timeout_ms);
      log_error ("%s", err->msg);
      export_fail (op, err);
    }
  shim_error_free (err);
}

static bool
handle_export (struct task_service *ts, struct ttrpc_call *call,
               Pb__ExportRequest *req)
{
  struct uvm *u = sandbox_vm (ts, call, req->id, "export");
  if (u == NULL)
    return false;
  if (!sandbox_migratable (ts))
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "export %s: the sandbox is not live-migratable (%s "
                          "is not true)",
                          req->id, "io.microsoft.migration.allowed");
  else if (!may_start (ts, MIGRATION_EV_EXPORT))
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "export %s: a migration is already in progress",
                          req->id);
  else if (!sandbox_ready (ts)
           || sandbox_task (ts)->status != PB__TASK_STATUS__RUNNING)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "export %s: the sandbox is not running", req->id);
  else
    {
      shim_error *err = NULL;
      size_t execs = migration_running_execs (ts, &err);
      struct migration_op *op = op_new (ts, call);
      if (execs == 0)
        export_begin (op);
      else if (req->force)
        {
          shim_error_wrap (&err, "not awaited (force)");
          export_fail (op, err);
        }
      else
        {
          /* Nothing new starts; the execs end in their own time.  */
          advance (ts, MIGRATION_EV_AWAIT_EXECS);
          char n[24];
          snprintf (n, sizeof n, "%zu", execs);
          log_entry (
              LOG_LEVEL_INFO,
              "live migration: the export awaits the pod's exec'd "
              "processes",
              (struct log_field[]){ { "sandbox", req->id }, { "execs", n } },
              2);
          struct migration_deadline *w
              = timer_arm (ts, &service_migration (ts)->exec_wait,
                           on_exec_wait, EXEC_WAIT_POLL_MS, EXEC_WAIT_POLL_MS);
          w->until = uv_now (service_config (ts)->loop)
                     + sandbox_config (ts)->migration_timeout_ms;
        }
      shim_error_free (err);
    }
  return false;
}
TTRPC_HANDLER (export, Pb__ExportRequest, pb__export_request)

/* ---- Import ------------------------------------------------------------- */

static void
on_described_here (void *data, struct vm_description *d, const shim_error *err)
{
  struct migration_op *op = data;
  struct task_service *ts = op->ts;
  const char *id = sandbox_task (ts)->id;
  shim_error *cerr = NULL;
  if (err != NULL)
    {
      settle (ts, MIGRATION_EV_FAILED);
      fail_wrapped (op->call, err, "import", id);
    }
  else if (vm_description_compare (&op->source, d, &cerr) < 0)
    {
      settle (ts, MIGRATION_EV_FAILED);
      fail_wrapped (op->call, cerr, "import", id);
      shim_error_free (cerr);
    }
  else
    {
      settle (ts, MIGRATION_EV_DESCRIBED);
      Pb__VmDescription vm;
      Pb__BootFile files[VM_BOOT_FILES_MAX];
      Pb__BootFile *ptrs[VM_BOOT_FILES_MAX];
      description_to_pb (d, id, &vm, files, ptrs);
      Pb__ImportResponse resp = PB__IMPORT_RESPONSE__INIT;
      resp.vm = &vm;
      char n[16];
      snprintf (n, sizeof n, "%zu", service_migration (ts)->incoming.n);
      log_entry (
          LOG_LEVEL_INFO,
          "live migration imported: waiting for the containers' "
          "adoption",
          (struct log_field[]){ { "sandbox", id }, { "containers", n } }, 2);
      ttrpc_call_reply (op->call, &resp.base);
    }
  op_free (op);
}

static bool
handle_import (struct task_service *ts, struct ttrpc_call *call,
               Pb__ImportRequest *req)
{
  struct uvm *u = sandbox_vm (ts, call, req->id, "import");
  if (u == NULL)
    return false;
  if (!may_start (ts, MIGRATION_EV_IMPORT))
    {
      ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                            "import %s: the sandbox was not created to "
                            "receive a migration (annotation %s), or already "
                            "imported",
                            req->id, ANNOTATION_MIGRATION_INCOMING);
      return false;
    }
  struct migration_op *op = op_new (ts, call);
  shim_error *err = NULL;
  advance (ts, MIGRATION_EV_IMPORT);
  struct migration_part *m = service_migration (ts);
  if (description_from_pb (req->source, &op->source, &err) == 0
      && migrating_set_from_pb (req->containers, req->n_containers,
                                req->next_process_key, &m->incoming, &err)
             == 0)
    {
      /* The guest knows the source's keys: new ones start above them.  */
      if (service_guest (ts)->next_process_key < req->next_process_key)
        service_guest (ts)->next_process_key = req->next_process_key;
    }
  if (err != NULL || uvm_describe (u, on_described_here, op, &err) < 0)
    {
      advance (ts, MIGRATION_EV_REFUSED);
      fail_wrapped (call, err, "import", req->id);
      shim_error_free (err);
      op_free (op);
    }
  return false;
}
TTRPC_HANDLER (import, Pb__ImportRequest, pb__import_request)

/* ---- Prepare ------------------------------------------------------------ */

/* FailedPrecondition naming every imported container whose adoption is
   missing or still attaching its layers.  */
static int
check_adopted (struct task_service *ts, shim_error **err)
{
  forget_failed_claims (ts);
  struct migrating_set *set = &service_migration (ts)->incoming;
  if (migrating_set_all_adopted (set, err) < 0)
    return -1;
  for (size_t i = 0; i < set->n; i++)
    if (!adoption_done (ts, &set->items[i]))
      return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                             "source container %s: its adoption by %s is "
                             "still attaching its layers",
                             set->items[i].id, set->items[i].adopted_by);
  return 0;
}

static bool
handle_prepare (struct task_service *ts, struct ttrpc_call *call,
                Pb__PrepareRequest *req)
{
  struct uvm *u = sandbox_vm (ts, call, req->id, "prepare");
  shim_error *err = NULL;
  char *uri = NULL;
  char token[MIGRATION_TOKEN_LEN + 1];
  if (u == NULL)
    return false;
  if (!may_start (ts, MIGRATION_EV_PREPARE))
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "prepare %s: the sandbox has not imported a "
                          "migration (or is prepared already)",
                          req->id);
  else if (check_adopted (ts, &err) < 0
           || uvm_migration_listen (u, &uri, token, &err) < 0)
    {
      fail_wrapped (call, err, "prepare", req->id);
      shim_error_free (err);
    }
  else
    {
      advance (ts, MIGRATION_EV_PREPARE);
      Pb__PrepareResponse resp = PB__PREPARE_RESPONSE__INIT;
      resp.uri = uri;
      resp.token = token;
      log_entry (
          LOG_LEVEL_INFO, "live migration prepared: waiting for the source",
          (struct log_field[]){ { "sandbox", req->id }, { "uri", uri } }, 2);
      ttrpc_call_reply (call, &resp.base);
      free (uri);
    }
  return false;
}
TTRPC_HANDLER (prepare, Pb__PrepareRequest, pb__prepare_request)

/* ---- Transfer, Progress, Cancel ----------------------------------------- */

static bool
handle_transfer (struct task_service *ts, struct ttrpc_call *call,
                 Pb__TransferRequest *req)
{
  struct uvm *u = sandbox_vm (ts, call, req->id, "transfer");
  shim_error *err = NULL;
  if (u == NULL)
    ;
  else if (service_migration (ts)->state != MIGRATION_EXPORTED
           || service_migration (ts)->op != NULL)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "transfer %s: the sandbox was not exported",
                          req->id);
  else if (uvm_migrate_out (u, req->uri, req->token, &err) < 0)
    {
      fail_wrapped (call, err, "transfer", req->id);
      shim_error_free (err);
    }
  else
    {
      Pb__TransferResponse resp = PB__TRANSFER_RESPONSE__INIT;
      ttrpc_call_reply (call, &resp.base);
    }
  return false;
}
TTRPC_HANDLER (transfer, Pb__TransferRequest, pb__transfer_request)

static bool
handle_progress (struct task_service *ts, struct ttrpc_call *call,
                 Pb__ProgressRequest *req)
{
  struct uvm *u = sandbox_named (ts, call, req->id, "progress");
  if (u == NULL)
    return false;
  struct uvm_migration_progress p;
  uvm_migration_progress (u, &p);
  Pb__ProgressResponse resp = PB__PROGRESS_RESPONSE__INIT;
  resp.status = p.status;
  resp.total_ms = p.total_ms;
  resp.downtime_ms = p.downtime_ms;
  resp.transferred_bytes = p.transferred_bytes;
  resp.remaining_bytes = p.remaining_bytes;
  resp.total_bytes = p.total_bytes;
  resp.dirty_sync_count = p.dirty_sync_count;
  resp.error = p.error;
  ttrpc_call_reply (call, &resp.base);
  return false;
}
TTRPC_HANDLER (progress, Pb__ProgressRequest, pb__progress_request)

static bool
handle_cancel (struct task_service *ts, struct ttrpc_call *call,
               Pb__CancelRequest *req)
{
  struct uvm *u = sandbox_named (ts, call, req->id, "cancel");
  shim_error *err = NULL;
  Pb__CancelResponse resp = PB__CANCEL_RESPONSE__INIT;
  if (u == NULL)
    ;
  else if (sandbox_task (ts)->exited)
    /* A stopped sandbox has nothing left to stop.  */
    ttrpc_call_reply (call, &resp.base);
  else if (service_migration (ts)->state == MIGRATION_NONE
           || service_migration (ts)->state == MIGRATION_MOVED)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "cancel %s: no migration is in progress", req->id);
  else if (!takes (ts, MIGRATION_EV_CANCEL)
           || (migration_state_source (service_migration (ts)->state)
               && uvm_migration_completed (u)))
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "cancel %s: the VM has switched over to the "
                          "destination; it can no longer be cancelled",
                          req->id);
  else
    {
      /* A source that only exported has nothing to stop.  */
      if (uvm_migration_cancel (u, &err) < 0)
        shim_error_free (err);
      log_entry (LOG_LEVEL_INFO, "live migration cancelled",
                 (struct log_field[]){ { "sandbox", req->id } }, 1);
      advance (ts, MIGRATION_EV_CANCEL);
      ttrpc_call_reply (call, &resp.base);
    }
  return false;
}
TTRPC_HANDLER (cancel, Pb__CancelRequest, pb__cancel_request)

/* ---- Finalize ----------------------------------------------------------- */

/* The source's Finalize answer: the bridge's handover, with each open
   stream's stdin state and the exits held here.  */
static void
reply_handover (struct task_service *ts, struct ttrpc_call *call,
                const struct bridge_handover *h)
{
  struct stream_handover *streams
      = xzalloc ((h->nstreams + 1) * sizeof *streams);
  struct held_exit *exits = NULL;
  size_t nexits = 0;
  guest_handover_state (ts, h->streams, h->nstreams, streams, &exits, &nexits);
  Pb__StreamHandover *ps = xzalloc ((h->nstreams + 1) * sizeof *ps);
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  Pb__StreamHandover **psp = xzalloc ((h->nstreams + 1) * sizeof *psp);
  for (size_t i = 0; i < h->nstreams; i++)
    {
      pb__stream_handover__init (&ps[i]);
      ps[i].process_key = streams[i].key;
      ps[i].stdin_unacked = streams[i].stdin_unacked;
      ps[i].stdin_closed = streams[i].stdin_closed;
      psp[i] = &ps[i];
    }
  Pb__QueuedExit *pe = xzalloc ((nexits + 1) * sizeof *pe);
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  Pb__QueuedExit **pep = xzalloc ((nexits + 1) * sizeof *pep);
  for (size_t i = 0; i < nexits; i++)
    {
      pb__queued_exit__init (&pe[i]);
      pe[i].process_key = exits[i].key;
      pe[i].status = exits[i].status;
      pe[i].termination_message.data = (uint8_t *) exits[i].message;
      pe[i].termination_message.len = exits[i].message_len;
      pep[i] = &pe[i];
    }
  Pb__BridgeHandover ho = PB__BRIDGE_HANDOVER__INIT;
  ho.inbound_tail.data = h->inbound_tail;
  ho.inbound_tail.len = h->inbound_len;
  ho.outbound.data = h->outbound;
  ho.outbound.len = h->outbound_len;
  ho.next_request_id = h->next_id;
  ho.n_streams = h->nstreams;
  ho.streams = psp;
  ho.n_exits = nexits;
  ho.exits = pep;
  Pb__FinalizeResponse resp = PB__FINALIZE_RESPONSE__INIT;
  resp.handover = &ho;
  /* Kept: an orchestrator that died before the destination had it asks
     again (migrate transfer, rerun).  */
  struct migration_part *m = service_migration (ts);
  free (m->handover_reply.data);
  m->handover_reply = pb_pack (&resp.base);
  ttrpc_call_reply (call, &resp.base);
  free (psp);
  free (ps);
  free (pep);
  free (pe);
  free (exits);
  free (streams);
}

/* A moved source's Finalize again: the handover it answered before.  */
static void
reply_kept_handover (struct task_service *ts, struct ttrpc_call *call)
{
  const ProtobufCBinaryData *kept = &service_migration (ts)->handover_reply;
  Pb__FinalizeResponse *resp
      = pb__finalize_response__unpack (NULL, kept->len, kept->data);
  if (resp == NULL)
    {
      ttrpc_call_fail_code (call, GRPC_INTERNAL,
                            "finalize %s: the kept handover does not unpack",
                            sandbox_id (ts));
      return;
    }
  log_entry (LOG_LEVEL_INFO,
             "live migration: the handover answered again (the "
             "orchestrator asked twice)",
             (struct log_field[]){ { "sandbox", sandbox_id (ts) } }, 1);
  ttrpc_call_reply (call, &resp->base);
  pb__finalize_response__free_unpacked (resp, NULL);
}

static void
on_handed_over (void *data, struct bridge_handover *h, const shim_error *err)
{
  struct migration_op *op = data;
  struct task_service *ts = op->ts;
  const char *id = sandbox_task (ts)->id;
  settle (ts, err != NULL ? MIGRATION_EV_FAILED : MIGRATION_EV_HANDED_OVER);
  if (err != NULL)
    fail_wrapped (op->call, err, "finalize", id);
  else
    reply_handover (ts, op->call, h);
  op_free (op);
}

static void
on_adopted (void *data, uint64_t uptime_ms, const shim_error *err)
{
  struct migration_op *op = data;
  struct task_service *ts = op->ts;
  const char *id = sandbox_task (ts)->id;
  settle (ts, err != NULL ? MIGRATION_EV_FAILED : MIGRATION_EV_ADOPTED);
  if (err != NULL)
    {
      fail_wrapped (op->call, err, "finalize", id);
      op_free (op);
      return;
    }
  guest_adoption_finalized (ts, op->streams, op->nstreams, op->exits,
                            op->nexits);
  char up[24];
  snprintf (up, sizeof up, "%llu", (unsigned long long) uptime_ms);
  log_entry (
      LOG_LEVEL_INFO,
      "live migration finalized: the sandbox runs "
      "here",
      (struct log_field[]){ { "sandbox", id }, { "guest_uptime_ms", up } }, 2);
  Pb__FinalizeResponse resp = PB__FINALIZE_RESPONSE__INIT;
  resp.guest_uptime_ms = uptime_ms;
  ttrpc_call_reply (op->call, &resp.base);
  op_free (op);
}

/* The source's handover as the destination takes it: the bridge's part
   (pointing into ho, h->streams allocated), the streams' stdin and the
   held exits kept in op for the end of the adoption.  */
static int
handover_from_pb (const Pb__BridgeHandover *ho, struct migration_op *op,
                  struct bridge_handover *h, shim_error **err)
{
  if (ho == NULL)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "the source's bridge handover is missing");
  if (ho->n_streams > HANDOVER_STREAMS_MAX
      || ho->n_exits > HANDOVER_STREAMS_MAX)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "the handover has %zu streams and %zu exits (at "
                           "most %d each)",
                           ho->n_streams, ho->n_exits, HANDOVER_STREAMS_MAX);
  *h = (struct bridge_handover){
    .inbound_tail = ho->inbound_tail.data,
    .inbound_len = ho->inbound_tail.len,
    .outbound = ho->outbound.data,
    .outbound_len = ho->outbound.len,
    .next_id = ho->next_request_id,
    .streams = xzalloc ((ho->n_streams + 1) * sizeof *h->streams),
    .nstreams = ho->n_streams,
  };
  op->streams = xzalloc ((ho->n_streams + 1) * sizeof *op->streams);
  op->nstreams = ho->n_streams;
  for (size_t i = 0; i < ho->n_streams; i++)
    {
      h->streams[i] = ho->streams[i]->process_key;
      op->streams[i]
          = (struct stream_handover){ ho->streams[i]->process_key,
                                      ho->streams[i]->stdin_unacked,
                                      ho->streams[i]->stdin_closed };
    }
  op->exits = xzalloc ((ho->n_exits + 1) * sizeof *op->exits);
  op->nexits = ho->n_exits;
  for (size_t i = 0; i < ho->n_exits; i++)
    {
      const ProtobufCBinaryData *msg = &ho->exits[i]->termination_message;
      size_t len = msg->len < HELD_EXIT_MESSAGE_MAX ? msg->len
                                                    : HELD_EXIT_MESSAGE_MAX;
      op->exits[i] = (struct held_exit){
        ho->exits[i]->process_key, ho->exits[i]->status,
        len > 0 ? xmemdup (msg->data, len) : NULL, len
      };
    }
  return 0;
}

static bool
handle_finalize (struct task_service *ts, struct ttrpc_call *call,
                 Pb__FinalizeRequest *req)
{
  struct migration_part *m = service_migration (ts);
  if (m->state == MIGRATION_MOVED && m->handover_reply.data != NULL)
    {
      if (sandbox_named (ts, call, req->id, "finalize") != NULL)
        reply_kept_handover (ts, call);
      return false;
    }
  struct uvm *u = sandbox_vm (ts, call, req->id, "finalize");
  shim_error *err = NULL;
  if (u == NULL)
    return false;
  if (!may_start (ts, MIGRATION_EV_FINALIZE))
    {
      ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                            "finalize %s: no migration to finalize", req->id);
      return false;
    }
  struct migration_op *op = op_new (ts, call);
  bool source = migration_state_source (service_migration (ts)->state);
  advance (ts, MIGRATION_EV_FINALIZE);
  int r;
  if (source)
    /* Its VMM exits next: the sandbox task ends as moved.  */
    r = uvm_migration_hand_over (u, on_handed_over, op, &err);
  else
    {
      struct bridge_handover h = { 0 };
      r = handover_from_pb (req->handover, op, &h, &err);
      if (r == 0)
        r = uvm_migration_adopt (u, &h, on_adopted, op, &err);
      free (h.streams);
    }
  if (r < 0)
    {
      advance (ts, MIGRATION_EV_REFUSED);
      fail_wrapped (call, err, "finalize", req->id);
      shim_error_free (err);
      op_free (op);
    }
  return false;
}
TTRPC_HANDLER (finalize, Pb__FinalizeRequest, pb__finalize_request)

static const struct ttrpc_method migration_methods[] = {
  { "Export", h_export, 0 },     { "Import", h_import, 0 },
  { "Prepare", h_prepare, 0 },   { "Transfer", h_transfer, 0 },
  { "Progress", h_progress, 0 }, { "Finalize", h_finalize, 0 },
  { "Cancel", h_cancel, 0 },
};

void
migration_service_register (struct task_service *ts, struct ttrpc_server *s)
{
  static struct ttrpc_service service
      = { "lcow.migration.v1.Migration", migration_methods,
          sizeof migration_methods / sizeof migration_methods[0], NULL };
  service.data = ts;
  ttrpc_server_register (s, &service);
}
