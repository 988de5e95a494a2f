#include "guest_process.h"
#include "service_record.h"
#include "pod_file_reader.h"
#include "guest_adoption.h"
#include "pod_volumes.h"
#include "port_forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.pb-c.h"
#include "policy/container_policy.h"
#include "policy/pod_file_binds.h"
#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "sandbox.h"
#include "uvm/bridge/bridge.h"

/* How long the guest agent may take over one request.  */
#define GUEST_REQUEST_TIMEOUT_MS 30000

static void
relay_send_stdin (void *ctx, const void *bytes, size_t len)
{
  struct task *t = ctx;
  struct uvm *vm = sandbox_uvm (t->ts);
  if (vm != NULL)
    uvm_send_stream (vm, t->key, BRIDGE_STDIN, bytes, len);
}

static void
relay_credit (void *ctx, uint8_t stream, uint32_t n)
{
  struct task *t = ctx;
  struct uvm *vm = sandbox_uvm (t->ts);
  if (vm != NULL)
    uvm_send_credit (vm, t->key, stream, n);
}

static const struct stdio_relay_ops relay_ops
    = { relay_send_stdin, relay_credit };

void
guest_process_open_relay (struct task *t, bool start)
{
  shim_error *err = NULL;
  if (stdio_relay_open (service_config (t->ts)->loop, t->stdin_path,
                        t->stdout_path, t->stderr_path, &relay_ops, t,
                        &t->relay, &err)
      < 0)
    {
      log_warn ("task %s: %s; its output is discarded", t->id, err->msg);
      shim_error_free (err);
      t->relay = NULL;
      if (start)
        uvm_send_stream (sandbox_uvm (t->ts), t->key, BRIDGE_STDIN, NULL, 0);
    }
  else if (start)
    stdio_relay_start (t->relay);
}

static void
finish_guest_exit (void *data)
{
  struct task *t = data;
  task_exited (t, t->exit_status_pending);
}

void
guest_process_deliver_exit (struct task *t)
{
  if (t->relay != NULL)
    stdio_relay_when_drained (t->relay, finish_guest_exit, t);
  else
    task_exited (t, t->exit_status_pending);
}

void
guest_on_notify (void *data, const char *body, size_t len)
{
  struct task_service *ts = data;
  uint32_t key, status;
  cleanup_free char *message = NULL;
  size_t message_len = 0;
  if (!bridge_exit_decode (body, len, &key, &status, &message, &message_len))
    return;
  struct task *t = task_find_key (ts, key);
  if (t == NULL)
    port_forward_on_exit (sandbox_port_forward (ts), key);
  if (t == NULL || t->exited || t->exit_parked || t->exit_held)
    return;
  /* Where the kubelet reads it, before containerd hears of the exit.  */
  shim_error *werr = NULL;
  if (message != NULL && t->volumes != NULL
      && pod_volumes_write_termination (t->volumes, message, message_len,
                                        &werr)
             < 0)
    {
      log_warn ("container %s: %s", t->id, werr->msg);
      shim_error_free (werr);
    }
  t->exit_status_pending = status;
  /* A process still being created has its exit held until the create
     reply: TaskCreate comes first, and the status never goes back.  A
     migration's source holds exits until it knows which side delivers
     them.  */
  if (migration_state_holds_exits (service_migration (ts)->state))
    {
      t->exit_held = true;
      if (message != NULL)
        {
          t->held_message_len = message_len < HELD_EXIT_MESSAGE_MAX
                                    ? message_len
                                    : HELD_EXIT_MESSAGE_MAX;
          t->held_message = xmemdup (message, t->held_message_len);
        }
    }
  else if (t->creating)
    t->exit_parked = true;
  else
    guest_process_deliver_exit (t);
}

void
guest_on_stream (void *data, uint32_t key, uint8_t stream,
                 const uint8_t *bytes, size_t len)
{
  struct task_service *ts = data;
  struct task *t = task_find_key (ts, key);
  if (t != NULL && t->relay != NULL)
    stdio_relay_output (t->relay, stream, bytes, len);
  else if (t == NULL
           && port_forward_on_stream (sandbox_port_forward (ts), key, stream,
                                      bytes, len))
    return;
  else if (len > 0)
    uvm_send_credit (sandbox_uvm (ts), key, stream, (uint32_t) len);
}

void
guest_on_credit (void *data, uint32_t key, uint8_t stream, uint32_t n)
{
  struct task_service *ts = data;
  struct task *t = task_find_key (ts, key);
  if (t != NULL && t->relay != NULL && stream == BRIDGE_STDIN)
    stdio_relay_stdin_credit (t->relay, n);
  else if (t == NULL && stream == BRIDGE_STDIN)
    port_forward_on_credit (sandbox_port_forward (ts), key, n);
}

/* The pod's sandbox went while a create or a guest request was under way.  */
static const shim_error sandbox_gone
    = { GRPC_FAILED_PRECONDITION, (char *) "the pod's sandbox is gone" };

/* A request about a process, answered when the guest replies; the task
   is looked up again then (it may be gone, or its id taken by a later
   record).  */
struct guest_op
{
  struct list link; /* in the service's guest table */
  struct task_service *ts;
  char *id;
  char *exec_id;
  uint64_t serial;
  struct ttrpc_call *call;
  /* For a reply that carries nothing but success: what follows it.  */
  void (*then) (struct task *t, struct ttrpc_call *call);
};

static struct guest_op *
guest_op_new (struct task *t, struct ttrpc_call *call)
{
  struct guest_op *op = xzalloc (sizeof *op);
  op->ts = t->ts;
  op->id = xstrdup (t->id);
  op->exec_id = t->exec_id ? xstrdup (t->exec_id) : NULL;
  op->serial = t->serial;
  op->call = call;
  list_add_tail (&service_guest (op->ts)->ops, &op->link);
  return op;
}

static struct task *
guest_op_task (struct guest_op *op)
{
  struct task *t = op->exec_id ? task_find_exec (op->ts, op->id, op->exec_id)
                               : task_find (op->ts, op->id);
  return t != NULL && t->serial == op->serial ? t : NULL;
}

static void
guest_op_free (struct guest_op *op)
{
  list_remove (&op->link);
  free (op->id);
  free (op->exec_id);
  free (op);
}

/* Sends body for t; reply gets a guest_op carrying then.  Fails the call
   on error.  */
static void
guest_call (struct task *t, struct ttrpc_call *call, const char *what,
            char *body, uvm_reply_fn reply,
            void (*then) (struct task *t, struct ttrpc_call *call))
{
  shim_error *err = NULL;
  struct guest_op *op = guest_op_new (t, call);
  op->then = then;
  struct uvm *vm = sandbox_uvm (t->ts);
  if (vm == NULL
      || uvm_request (vm, body, GUEST_REQUEST_TIMEOUT_MS, reply, op, &err) < 0)
    {
      if (err == NULL)
        shim_error_set (&err, GRPC_FAILED_PRECONDITION, "no sandbox");
      shim_error_wrap (&err, "%s %s", what, t->exec_id ? t->exec_id : t->id);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      guest_op_free (op);
      if (t->creating && t->exec_id != NULL)
        task_drop_exec (t);
    }
  free (body);
}

void
guest_container_create_failed (struct task *t, const shim_error *err)
{
  struct task_service *ts = t->ts;
  task_fail_call (t->create_call, err, "create %s: %s", t->id);
  t->create_call = NULL;
  task_remove (t);
  bool standalone = sandbox_task (ts) == t;
  task_free (t);
  if (standalone)
    sandbox_end (ts);
}

int
guest_container_prepare_rootfs (struct task *t,
                                const struct layer_expectation *expect,
                                size_t nexpect, container_rootfs_fn ready,
                                shim_error **err)
{
  const Pb__CreateTaskRequest *req = t->create_req;
  struct rootfs_mount *mounts = xzalloc ((req->n_rootfs + 1) * sizeof *mounts);
  for (size_t i = 0; i < req->n_rootfs; i++)
    mounts[i]
        = (struct rootfs_mount){ req->rootfs[i]->type, req->rootfs[i]->source,
                                 req->rootfs[i]->options,
                                 req->rootfs[i]->n_options };
  int r = container_rootfs_prepare (sandbox_layers (t->ts), mounts,
                                    req->n_rootfs, t->rootfs_dir, expect,
                                    nexpect, ready, t, &t->rootfs, err);
  free (mounts);
  return r;
}

void
guest_container_created (struct task *t, bool start, const char *what)
{
  t->creating = false;
  task_set_status (t, PB__TASK_STATUS__CREATED);
  guest_process_open_relay (t, start);
  char pid[16];
  snprintf (pid, sizeof pid, "%u", t->pid);
  log_entry (LOG_LEVEL_INFO, what,
             (struct log_field[]){ { "task", t->id },
                                   { "guest-id", task_guest_id (t) },
                                   { "guest-pid", pid } },
             3);
  task_reply_created (t, t->create_call, t->create_req);
  t->create_call = NULL;
  pb__create_task_request__free_unpacked (t->create_req, NULL);
  t->create_req = NULL;
}

static void
on_guest_created (void *data, const char *body, size_t len,
                  const shim_error *err)
{
  struct task *t = data;
  struct bridge_response resp;
  shim_error *derr = NULL;
  if (err == NULL && bridge_response_decode (body, len, &resp, &derr) < 0)
    err = derr;
  if (err != NULL)
    {
      guest_container_create_failed (t, err);
      shim_error_free (derr);
      return;
    }
  bridge_response_release (&resp);
  t->pid = resp.pid;
  guest_container_created (t, true, "container created in the UVM");
  if (t->exit_parked)
    guest_process_deliver_exit (t);
}

/* Every layer is in the VM: the guest builds the container.  */
static void
on_rootfs_ready (void *data, const uint32_t *targets, size_t ntargets,
                 const shim_error *err)
{
  struct task *t = data;
  struct task_service *ts = t->ts;
  shim_error *rerr = NULL;
  if (err == NULL && sandbox_uvm (ts) == NULL)
    err = &sandbox_gone;
  if (err != NULL)
    {
      guest_container_create_failed (t, err);
      return;
    }
  cleanup_free char *body
      = bridge_create_body (t->guest_create, targets, ntargets);
  if (uvm_request (sandbox_uvm (ts), body, GUEST_REQUEST_TIMEOUT_MS,
                   on_guest_created, t, &rerr)
      == 0)
    return;
  guest_container_create_failed (t, rerr);
  shim_error_free (rerr);
}

/* The pod files are read: the layers, then the guest container.  */
static void
on_pod_files_read (void *data, const struct bridge_pod_file *files,
                   size_t nfiles, const pod_volume_stamp *stamps,
                   const shim_error *rerr)
{
  struct task *t = data;
  struct task_service *ts = t->ts;
  shim_error *err = NULL;
  t->pod_files = NULL;
  if (rerr == NULL
      && (sandbox_uvm (ts) == NULL || sandbox_layers (ts) == NULL))
    rerr = &sandbox_gone;
  if (rerr != NULL)
    {
      guest_container_create_failed (t, rerr);
      return;
    }
  if (pod_volumes_share (t->volumes, &err) < 0)
    {
      guest_container_create_failed (t, err);
      shim_error_free (err);
      return;
    }
  /* The guest gets the bundle's document as the shim read it.  */
  struct bridge_create bc
      = { .container = t->id,
          .process = t->key,
          .scratch_mb = sandbox_config (ts)->container_scratch_mb,
          .spec = t->spec_text,
          .spec_len = t->spec_len,
          .files = files,
          .nfiles = nfiles,
          .pod_hostname = sandbox_pod_hostname (ts) };
  bc.pod_sysctls = sandbox_pod_sysctls (ts, &bc.npod_sysctls);
  pod_volumes_describe (t->volumes, &bc, stamps);
  t->guest_create = bridge_create_members (&bc);
  if (strlen (t->guest_create) + BRIDGE_CREATE_LAYERS_BYTES (ROOTFS_LAYERS_MAX)
      > BRIDGE_MESSAGE_MAX)
    {
      shim_error_set (&err, GRPC_INVALID_ARGUMENT,
                      "the spec and pod files are too large for the guest "
                      "bridge (%u bytes at most)",
                      BRIDGE_MESSAGE_MAX
                          - BRIDGE_CREATE_LAYERS_BYTES (ROOTFS_LAYERS_MAX));
      guest_container_create_failed (t, err);
      shim_error_free (err);
      return;
    }
  /* on_rootfs_ready may run (and end t) before this returns.  */
  if (guest_container_prepare_rootfs (t, NULL, 0, on_rootfs_ready, &err) == 0)
    return;
  guest_container_create_failed (t, err);
  shim_error_free (err);
}

int
guest_container_begin (struct task *t, struct ttrpc_call *call,
                       Pb__CreateTaskRequest *req, const struct oci_spec *spec)
{
  struct task_service *ts = t->ts;
  const struct shim_config *cfg = sandbox_config (ts);
  shim_error *err = NULL;
  t->creating = true;
  t->create_call = call;
  t->create_req = req;
  size_t nbinds = 0;
  struct pod_file_bind *binds = xzalloc ((spec->nmounts + 1) * sizeof *binds);
  if (pod_file_binds_plan (spec, cfg->pod_file_roots, cfg->npod_file_roots,
                           sandbox_id (ts), sandbox_host_share (ts), binds,
                           &nbinds, &err)
          == 0
      && (spec->process == NULL || spec->process->nargs == 0))
    shim_error_set (&err, GRPC_INVALID_ARGUMENT,
                    "spec: process.args is empty");
  if (err != NULL)
    {
      free (binds);
      guest_container_create_failed (t, err);
      shim_error_free (err);
      return -1;
    }
  if (spec->root_path == NULL || spec->root_path[0] == '\0')
    t->rootfs_dir = xasprintf ("%s/rootfs", t->bundle);
  else if (spec->root_path[0] == '/')
    t->rootfs_dir = xstrdup (spec->root_path);
  else
    t->rootfs_dir = xasprintf ("%s/%s", t->bundle, spec->root_path);
  t->volumes = pod_volumes_new (ts, task_guest_id (t), binds, nbinds);
  free (binds);
  return 0;
}

/* Starts the create chain for t (in the task list, creating): checks what
   it can at once, then reads the pod files off the loop (see
   on_pod_files_read).  Takes req.  On a synchronous failure the call is
   failed and t is freed.  */
void
guest_container_create (struct task *t, struct ttrpc_call *call,
                        Pb__CreateTaskRequest *req,
                        const struct oci_spec *spec)
{
  struct task_service *ts = t->ts;
  t->key = ++service_guest (ts)->next_process_key;
  uvm_open_streams (sandbox_uvm (ts), t->key);
  if (guest_container_begin (t, call, req, spec) < 0)
    return;
  t->spec_text = xmemdup (spec->document, spec->document_len);
  t->spec_len = spec->document_len;
  pod_file_reader_start (service_config (ts)->loop,
                         pod_volumes_binds (t->volumes),
                         pod_volumes_bind_count (t->volumes), true,
                         on_pod_files_read, t, &t->pod_files);
}

/* Decodes a reply for op; fails its call and returns NULL on an error or a
   task gone meanwhile.  The op is answered from here on: no longer among
   the calls the sandbox's end fails (what follows the reply may end it).  */
static struct task *
guest_reply (struct guest_op *op, const char *body, size_t len,
             const shim_error *err, struct bridge_response *resp)
{
  list_remove (&op->link);
  shim_error *derr = NULL;
  *resp = (struct bridge_response){ 0 };
  if (err == NULL && bridge_response_decode (body, len, resp, &derr) < 0)
    err = derr;
  struct task *t = guest_op_task (op);
  if (err != NULL)
    task_fail_call (op->call, err, "%s: %s",
                    op->exec_id ? op->exec_id : op->id);
  else if (t == NULL)
    ttrpc_call_fail_code (op->call, GRPC_NOT_FOUND, "task %s: not found",
                          op->id);
  shim_error_free (derr);
  if (err != NULL || t == NULL)
    {
      bridge_response_release (resp);
      return NULL;
    }
  return t;
}

static void
on_guest_ack (void *data, const char *body, size_t len, const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  struct task *t = guest_reply (op, body, len, err, &resp);
  if (t != NULL)
    {
      bridge_response_release (&resp);
      op->then (t, op->call);
    }
  guest_op_free (op);
}

/* Kill and ResizePty answer with an empty message.  */
static void
reply_empty (struct task *t, struct ttrpc_call *call)
{
  (void) t;
  ttrpc_call_reply (call, NULL);
}

static void
on_guest_exec_added (void *data, const char *body, size_t len,
                     const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  struct task *t = guest_op_task (op);
  if (guest_reply (op, body, len, err, &resp) == NULL)
    {
      if (t != NULL)
        task_drop_exec (t);
      guest_op_free (op);
      return;
    }
  t->creating = false;
  t->pid = resp.pid;
  task_set_status (t, PB__TASK_STATUS__CREATED);
  guest_process_open_relay (t, true);
  Pb__TaskExecAdded ev = PB__TASK_EXEC_ADDED__INIT;
  ev.container_id = t->id;
  ev.exec_id = t->exec_id;
  task_publish (t->ts, "/tasks/exec-added", "containerd.events.TaskExecAdded",
                &ev.base);
  ttrpc_call_reply (op->call, NULL);
  bridge_response_release (&resp);
  guest_op_free (op);
  if (t->exit_parked)
    guest_process_deliver_exit (t);
}

static void
on_guest_stats (void *data, const char *body, size_t len,
                const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  struct task *t = guest_reply (op, body, len, err, &resp);
  if (t == NULL)
    ;
  else if (strstr (ttrpc_call_method (op->call), "/Pids"))
    {
      Pb__ProcessInfo *infos = xzalloc ((resp.npids + 1) * sizeof *infos);
      /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
      Pb__ProcessInfo **list = xzalloc ((resp.npids + 1) * sizeof *list);
      for (size_t i = 0; i < resp.npids; i++)
        {
          pb__process_info__init (&infos[i]);
          infos[i].pid = resp.pids[i];
          list[i] = &infos[i];
        }
      Pb__PidsResponse pr = PB__PIDS_RESPONSE__INIT;
      pr.n_processes = resp.npids;
      pr.processes = list;
      ttrpc_call_reply (op->call, &pr.base);
      free (list);
      free (infos);
    }
  else
    task_reply_metrics (op->call, resp.cpu_ns, resp.memory_bytes,
                        resp.memory_limit, 0, resp.npids);
  bridge_response_release (&resp);
  guest_op_free (op);
}

/* Deletes a container's record with its exec'd processes, its disk
   unplugged.  */
static void
delete_container (struct task *t, struct ttrpc_call *call)
{
  container_rootfs_release (t->rootfs);
  t->rootfs = NULL;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (t->ts)->list)
  {
    struct task *e = list_entry (pos, struct task, link);
    if (e->exec_id != NULL && strcmp (e->id, t->id) == 0)
      task_drop_exec (e);
  }
  task_delete_exited (t, call);
}

/* Whether the VM that runs t is still there to be asked.  */
static bool
vm_running (const struct task *t)
{
  const struct task *pod = sandbox_task (t->ts);
  return sandbox_ready (t->ts) && !pod->exited && pod->serial == t->pod_serial;
}

void
guest_process_start (struct task *t, struct ttrpc_call *call)
{
  guest_call (t, call, "start", bridge_start_body (t->key), on_guest_ack,
              task_reply_started);
}

void
guest_process_kill (struct task *t, struct ttrpc_call *call, uint32_t signal,
                    bool all)
{
  guest_call (t, call, "kill", bridge_signal_body (t->key, signal, all),
              on_guest_ack, reply_empty);
}

void
guest_process_resize (struct task *t, struct ttrpc_call *call, uint32_t width,
                      uint32_t height)
{
  guest_call (t, call, "resize", bridge_resize_body (t->key, width, height),
              on_guest_ack, reply_empty);
}

void
guest_container_stats (struct task *t, struct ttrpc_call *call)
{
  guest_call (t, call, "stats",
              bridge_container_body (BRIDGE_REQ_STATS, task_guest_id (t)),
              on_guest_stats, NULL);
}

void
guest_container_update (struct task *t, struct ttrpc_call *call,
                        const char *resources, size_t len)
{
  char *body = bridge_update_body (task_guest_id (t), resources, len);
  if (strlen (body) > BRIDGE_MESSAGE_MAX)
    {
      ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                            "update %s: the resources are too large for the "
                            "guest bridge (%u bytes at most)",
                            t->id, BRIDGE_MESSAGE_MAX);
      free (body);
      return;
    }
  guest_call (t, call, "update", body, on_guest_ack, reply_empty);
}

void
guest_container_delete (struct task *t, struct ttrpc_call *call)
{
  /* With its VM gone there is no guest to let go of the container.  */
  if (!vm_running (t))
    delete_container (t, call);
  else
    guest_call (t, call, "delete",
                bridge_container_body (BRIDGE_REQ_DELETE, task_guest_id (t)),
                on_guest_ack, delete_container);
}

void
guest_process_exec (struct task *c, struct ttrpc_call *call,
                    const Pb__ExecProcessRequest *req)
{
  struct task_service *ts = c->ts;
  struct task *e = task_new (ts, c->id, req->exec_id, c->bundle, req->stdin,
                             req->stdout, req->stderr, req->terminal);
  e->pod_serial = c->pod_serial;
  e->kind = TASK_EXEC;
  e->creating = true;
  e->key = ++service_guest (ts)->next_process_key;
  if (sandbox_uvm (ts) != NULL)
    uvm_open_streams (sandbox_uvm (ts), e->key);
  task_add (e);
  guest_call (e, call, "exec",
              bridge_exec_body (task_guest_id (c), e->key,
                                (const char *) req->spec->value.data,
                                req->spec->value.len),
              on_guest_exec_added, NULL);
}

void
guest_sandbox_ending (struct task_service *ts)
{
  while (!list_empty (&service_guest (ts)->ops))
    {
      struct guest_op *op
          = list_entry (service_guest (ts)->ops.next, struct guest_op, link);
      struct task *t = guest_op_task (op);
      ttrpc_call_fail (op->call, &sandbox_gone);
      guest_op_free (op);
      if (t != NULL && t->creating && t->kind == TASK_EXEC)
        task_drop_exec (t);
    }
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t->creating && t->create_call != NULL && t != sandbox_task (ts))
      guest_container_create_failed (t, &sandbox_gone);
  }
}
