/* See migration_service.h.  */
#include "migration_service.h"
#include "service_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration.pb-c.h"
#include "policy/migration.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "sandbox.h"
#include "migration_state.h"
#include "task.h"
#include "uvm/uvm_migration.h"

/* The one call waiting for the VM (describe, hand over, adopt), answered
   by its callback, or failed when the sandbox ends first (no callback
   comes after its VM is destroyed).  */
struct migration_op
{
  struct task_service *ts;
  struct ttrpc_call *call;
  /* Import: the source's description, to compare with ours.  */
  struct vm_description source;
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
  free (op);
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
  service_migration (ts)->state = next;
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
  if (!migration_call_refused (rule, service_migration (ts)->state,
                               t != NULL && t->kind == TASK_POD_SANDBOX))
    return false;
  const char *method = ttrpc_call_method (call);
  const char *what
      = strrchr (method, '/') ? strrchr (method, '/') + 1 : method;
  ttrpc_call_fail_code (
      call, GRPC_FAILED_PRECONDITION,
      "sandbox %s is migrating (%s): %s is refused until the migration is "
      "finalized or cancelled",
      sandbox_id (ts) ? sandbox_id (ts) : "?",
      migration_state_source (service_migration (ts)->state)
          ? "exported to another shim"
          : "incoming from another shim",
      what);
  return true;
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
  if (in->n_boot_files > VM_BOOT_FILES_MAX || in->n_disks > 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "source: %zu boot files (at most %d) and %zu "
                           "disks (containers do not migrate yet)",
                           in->n_boot_files, VM_BOOT_FILES_MAX, in->n_disks);
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
  log_entry (LOG_LEVEL_INFO, "sandbox exported for live migration",
             (struct log_field[]){ { "sandbox", id },
                                   { "qemu", d->qemu_version },
                                   { "accel", d->accel } },
             3);
  ttrpc_call_reply (op->call, &resp.base);
  op_free (op);
}

static bool
handle_export (struct task_service *ts, struct ttrpc_call *call,
               Pb__ExportRequest *req)
{
  struct uvm *u = sandbox_vm (ts, call, req->id, "export");
  shim_error *err = NULL;
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
  else if (service_tasks (ts)->count > 1)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "export %s: the sandbox has %zu container(s); only "
                          "a sandbox without containers migrates so far",
                          req->id, service_tasks (ts)->count - 1);
  else
    {
      struct migration_op *op = op_new (ts, call);
      /* Frozen from here: what is described is what moves.  */
      advance (ts, MIGRATION_EV_EXPORT);
      if (uvm_describe (u, on_exported, op, &err) < 0)
        {
          advance (ts, MIGRATION_EV_REFUSED);
          fail_wrapped (call, err, "export", req->id);
          shim_error_free (err);
          op_free (op);
        }
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
  char *uri = NULL;
  if (err != NULL)
    {
      settle (ts, MIGRATION_EV_FAILED);
      fail_wrapped (op->call, err, "import", id);
    }
  else if (vm_description_compare (&op->source, d, &cerr) < 0
           || uvm_migration_listen (sandbox_uvm (ts), &uri, &cerr) < 0)
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
      resp.uri = uri;
      resp.vm = &vm;
      log_entry (LOG_LEVEL_INFO,
                 "live migration imported: waiting for the "
                 "source",
                 (struct log_field[]){ { "sandbox", id }, { "uri", uri } }, 2);
      ttrpc_call_reply (op->call, &resp.base);
      free (uri);
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
  if (description_from_pb (req->source, &op->source, &err) < 0
      || uvm_describe (u, on_described_here, op, &err) < 0)
    {
      advance (ts, MIGRATION_EV_REFUSED);
      fail_wrapped (call, err, "import", req->id);
      shim_error_free (err);
      op_free (op);
    }
  return false;
}
TTRPC_HANDLER (import, Pb__ImportRequest, pb__import_request)

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
  else if (uvm_migrate_out (u, req->uri, &err) < 0)
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
    {
      Pb__BridgeHandover ho = PB__BRIDGE_HANDOVER__INIT;
      ho.inbound_tail.data = h->inbound_tail;
      ho.inbound_tail.len = h->inbound_len;
      ho.outbound.data = h->outbound;
      ho.outbound.len = h->outbound_len;
      ho.next_request_id = h->next_id;
      Pb__FinalizeResponse resp = PB__FINALIZE_RESPONSE__INIT;
      resp.handover = &ho;
      ttrpc_call_reply (op->call, &resp.base);
    }
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

static bool
handle_finalize (struct task_service *ts, struct ttrpc_call *call,
                 Pb__FinalizeRequest *req)
{
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
      const Pb__BridgeHandover *ho = req->handover;
      struct bridge_handover h = { 0 };
      if (ho != NULL)
        {
          h.inbound_tail = ho->inbound_tail.data;
          h.inbound_len = ho->inbound_tail.len;
          h.outbound = ho->outbound.data;
          h.outbound_len = ho->outbound.len;
          h.next_id = ho->next_request_id;
        }
      r = ho == NULL ? shim_error_set (&err, GRPC_INVALID_ARGUMENT,
                                       "the source's bridge handover is "
                                       "missing")
                     : uvm_migration_adopt (u, &h, on_adopted, op, &err);
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
  { "Transfer", h_transfer, 0 }, { "Progress", h_progress, 0 },
  { "Finalize", h_finalize, 0 }, { "Cancel", h_cancel, 0 },
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
