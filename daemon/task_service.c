#include "task_service.h"
#include "service_record.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest_adoption.h"
#include "guest_process.h"
#include "migration_service.h"
#include "policy/container_policy.h"
#include "policy/migration.h"
#include "policy/namespace_policy.h"
#include "proto/base/cleanup.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "sandbox.h"
#include "shim_cli.h"
#include "sandbox_plan.h"
#include "task.h"

#define ANN_CRI_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define ANN_CRI_SANDBOX_ID "io.kubernetes.cri.sandbox-id"

/* ---- helpers ---------------------------------------------------------- */

/* Resolves (id, exec_id) to a task or exec'd process, or fails the call.  */
static struct task *
lookup (struct task_service *ts, struct ttrpc_call *call, const char *id,
        const char *exec_id)
{
  struct task *t = task_find (ts, id);
  if (t == NULL)
    {
      ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                            "task %s: container not created: not found", id);
      return NULL;
    }
  if (exec_id != NULL && *exec_id != '\0')
    {
      struct task *e = task_find_exec (ts, id, exec_id);
      if (e == NULL)
        ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                              "process does not exist %s: not found", exec_id);
      return e;
    }
  return t;
}

/* ---- Task API handlers ------------------------------------------------ */

/* The container's namespaces as the guest agent can give them (pod_ns_dir:
   see namespace_policy_check).  */
static int
check_namespaces (const char *id, const struct oci_spec *spec,
                  const char *pod_ns_dir, shim_error **err)
{
  struct policy_problems problems = { STRBUF_INIT, 0 };
  namespace_policy_check (spec, pod_ns_dir, &problems);
  cleanup_free char *subject = xasprintf ("create %s", id);
  return policy_problems_to_error (&problems, subject, err);
}

/* A pod container may share the pod's PID, UTS and IPC namespaces, which
   CRI names by the sandbox task's pid.  */
static int
check_pod_namespaces (struct task_service *ts, const char *id,
                      const struct oci_spec *spec, shim_error **err)
{
  cleanup_free char *pod_ns_dir
      = xasprintf ("/proc/%u/ns", sandbox_task (ts)->pid);
  return check_namespaces (id, spec, pod_ns_dir, err);
}

/* The checks every Create passes first; false when the call was failed.  */
static bool
create_allowed (struct task_service *ts, struct ttrpc_call *call,
                const Pb__CreateTaskRequest *req)
{
  if (*req->id == '\0' || *req->bundle == '\0')
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "create: id and bundle are required");
  else if (task_find (ts, req->id) != NULL
           || (sandbox_task (ts)
               && strcmp (sandbox_task (ts)->id, req->id) == 0))
    ttrpc_call_fail_code (call, GRPC_ALREADY_EXISTS, "task %s: already exists",
                          req->id);
  else if (*req->checkpoint != '\0')
    ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                          "create %s: restoring from a checkpoint is not "
                          "supported for UVM sandboxes",
                          req->id);
  else
    return true;
  return false;
}

/* A container joining the sandbox pod_id of this shim; true when the
   guest's create took req and spec.  */
static bool
join_container (struct task_service *ts, struct ttrpc_call *call,
                Pb__CreateTaskRequest *req, struct oci_spec *spec,
                const char *pod_id)
{
  shim_error *err = NULL;
  if (!sandbox_ready (ts) || strcmp (sandbox_id (ts), pod_id) != 0
      || sandbox_task (ts)->exited)
    {
      ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                            "create %s: sandbox %s is not running in this "
                            "shim",
                            req->id, pod_id);
      return false;
    }
  if ((sandbox_migratable (ts)
       && sandbox_check_container (pod_id, req->id, spec, &err) < 0)
      || check_pod_namespaces (ts, req->id, spec, &err) < 0)
    {
      log_error ("%s", err->msg);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      return false;
    }
  char digest[sizeof ((struct task *) 0)->process_digest] = "";
  if (spec->process != NULL)
    migration_process_digest (spec->process, digest);
  const char *source
      = oci_spec_annotation (spec, ANNOTATION_MIGRATION_SOURCE_CONTAINER);
  const struct migrating_container *adopted
      = source ? migration_adoption_claim (ts, call, req->id, source, digest)
               : NULL;
  if (source != NULL && adopted == NULL)
    return false;
  struct task *t = task_new (ts, req->id, NULL, req->bundle, req->stdin,
                             req->stdout, req->stderr, req->terminal);
  t->kind = TASK_CONTAINER;
  t->pod_serial = sandbox_task (ts)->serial;
  memcpy (t->process_digest, digest, sizeof digest);
  task_add (t);
  if (adopted != NULL)
    guest_container_adopt (t, call, req, spec, adopted);
  else
    guest_container_create (t, call, req, spec);
  return true;
}

/* Keeps req (returns true) when a sandbox or a container create takes
   it.  */
static bool
handle_create (struct task_service *ts, struct ttrpc_call *call,
               Pb__CreateTaskRequest *req)
{
  if (!create_allowed (ts, call, req))
    return false;
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  bool kept = false;
  if (oci_spec_load_bundle (req->bundle, &spec, &err) < 0)
    {
      if (err->code == GRPC_UNKNOWN || err->code == GRPC_NOT_FOUND)
        err->code = GRPC_INVALID_ARGUMENT;
      shim_error_wrap (&err, "create %s: read spec", req->id);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      return false;
    }
  /* CRI annotations decide between a sandbox and a container joining one.  */
  const char *type = oci_spec_annotation (spec, ANN_CRI_CONTAINER_TYPE);
  const char *pod_id = oci_spec_annotation (spec, ANN_CRI_SANDBOX_ID);
  if ((type == NULL) != (pod_id == NULL))
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "cannot specify '%s' without '%s'",
                          type ? ANN_CRI_CONTAINER_TYPE : ANN_CRI_SANDBOX_ID,
                          type ? ANN_CRI_SANDBOX_ID : ANN_CRI_CONTAINER_TYPE);
  else if (type == NULL && check_namespaces (req->id, spec, NULL, &err) < 0)
    {
      ttrpc_call_fail (call, err);
      shim_error_free (err);
    }
  /* Between a migration's Import and Prepare a container may join to
     adopt a source's container; nothing else is created.  */
  else if (!(type != NULL && strcmp (type, "container") == 0
             && oci_spec_annotation (spec,
                                     ANNOTATION_MIGRATION_SOURCE_CONTAINER))
           && migration_refuses (ts, call, NULL))
    ;
  else if (type == NULL || strcmp (type, "sandbox") == 0)
    {
      sandbox_create (ts, call, req, &spec, pod_id ? pod_id : req->id,
                      type == NULL);
      kept = true;
    }
  else if (strcmp (type, "container") == 0)
    kept = join_container (ts, call, req, spec, pod_id);
  else
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT, "invalid '%s': '%s'",
                          ANN_CRI_CONTAINER_TYPE, type);
  oci_spec_free (spec);
  return kept;
}
TTRPC_HANDLER (create, Pb__CreateTaskRequest, pb__create_task_request)

static bool
handle_start (struct task_service *ts, struct ttrpc_call *call,
              Pb__StartRequest *req)
{
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t == NULL || migration_refuses (ts, call, t))
    ;
  else if (t->status != PB__TASK_STATUS__CREATED)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s: cannot start a task that is %s", t->id,
                          t->exited ? "stopped" : "already running");
  /* An adopted container's process runs already (at the source until
     Finalize).  */
  else if (t->kind != TASK_POD_SANDBOX && !t->adopted)
    guest_process_start (t, call);
  else
    task_reply_started (t, call);
  return false;
}
TTRPC_HANDLER (start, Pb__StartRequest, pb__start_request)

static bool
handle_state (struct task_service *ts, struct ttrpc_call *call,
              Pb__StateRequest *req)
{
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      Pb__Timestamp ts_ = PB__TIMESTAMP__INIT;
      Pb__StateResponse resp = PB__STATE_RESPONSE__INIT;
      resp.id = t->id;
      resp.bundle = t->bundle;
      resp.pid = t->pid;
      resp.status = t->status;
      resp.stdin = t->stdin_path;
      resp.stdout = t->stdout_path;
      resp.stderr = t->stderr_path;
      resp.terminal = t->terminal;
      if (t->exited)
        {
          resp.exit_status = t->exit_status;
          task_exit_time (t, &ts_);
          resp.exited_at = &ts_;
        }
      ttrpc_call_reply (call, &resp.base);
    }
  return false;
}
TTRPC_HANDLER (state, Pb__StateRequest, pb__state_request)

static bool
handle_wait (struct task_service *ts, struct ttrpc_call *call,
             Pb__WaitRequest *req)
{
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      if (t->exited)
        task_reply_wait (t, call);
      else
        task_park (&t->waiters, call);
    }
  return false;
}
TTRPC_HANDLER (wait, Pb__WaitRequest, pb__wait_request)

/* The pod sandbox's task is its VM.  A migration under way is given up
   first: an orchestrator that died must not leave it unkillable.  */
static void
signal_sandbox (struct task_service *ts, struct task *t,
                struct ttrpc_call *call, uint32_t signal)
{
  shim_error *err = NULL;
  migration_give_up (ts, "Kill");
  if (uvm_signal (sandbox_uvm (ts), (int) signal, &err) < 0)
    {
      shim_error_wrap (&err, "kill %s", t->id);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      return;
    }
  char sig[16];
  snprintf (sig, sizeof sig, "%u", signal);
  log_entry (LOG_LEVEL_INFO, "signalled the VMM",
             (struct log_field[]){ { "task", t->id }, { "signal", sig } }, 2);
  ttrpc_call_reply (call, NULL);
}

static bool
handle_kill (struct task_service *ts, struct ttrpc_call *call,
             Pb__KillRequest *req)
{
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t == NULL || migration_refuses (ts, call, t))
    ;
  else if (t->exited)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: process already finished: not found",
                          t->id);
  else if (req->signal == 0 || req->signal > 64)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "task %s: invalid signal %u", t->id, req->signal);
  else if (t->creating)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s is being created", t->id);
  else if (t->kind != TASK_POD_SANDBOX)
    guest_process_kill (t, call, req->signal, req->all);
  else
    signal_sandbox (ts, t, call, req->signal);
  return false;
}
TTRPC_HANDLER (kill, Pb__KillRequest, pb__kill_request)

/* An exec'd process: answered from its record (its exit was reported).  */
static void
delete_exec (struct task *t, struct ttrpc_call *call)
{
  if (!t->exited)
    {
      ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                            "process %s: cannot delete a process that has "
                            "not exited",
                            t->exec_id);
      return;
    }
  task_reply_delete (t, call);
  task_drop_exec (t);
}

static bool
handle_delete (struct task_service *ts, struct ttrpc_call *call,
               Pb__DeleteRequest *req)
{
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t == NULL || migration_refuses (ts, call, t))
    ;
  else if (t->creating)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s is being created", t->id);
  else if (t->exec_id != NULL)
    delete_exec (t, call);
  else if (t->kind != TASK_POD_SANDBOX
           && (t->exited || t->status == PB__TASK_STATUS__CREATED))
    guest_container_delete (t, call);
  else if (t->exited)
    task_delete_exited (t, call);
  else if (t->status == PB__TASK_STATUS__CREATED)
    {
      /* Never started: stop the VM and answer once it is gone.  */
      task_park (&t->deleters, call);
      uvm_signal (sandbox_uvm (ts), SIGKILL, NULL);
    }
  else
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s: cannot delete a running task", t->id);
  return false;
}
TTRPC_HANDLER (delete, Pb__DeleteRequest, pb__delete_request)

static bool
handle_pids (struct task_service *ts, struct ttrpc_call *call,
             Pb__PidsRequest *req)
{
  struct task *t = lookup (ts, call, req->id, NULL);
  if (t == NULL || migration_refuses (ts, call, t))
    ;
  else if (t->kind != TASK_POD_SANDBOX && !t->exited && !t->creating)
    guest_container_stats (t, call);
  else
    {
      Pb__ProcessInfo pi = PB__PROCESS_INFO__INIT;
      Pb__ProcessInfo *list[] = { &pi };
      pi.pid = t->pid;
      Pb__PidsResponse resp = PB__PIDS_RESPONSE__INIT;
      resp.n_processes = t->exited ? 0 : 1;
      resp.processes = list;
      ttrpc_call_reply (call, &resp.base);
    }
  return false;
}
TTRPC_HANDLER (pids, Pb__PidsRequest, pb__pids_request)

static bool
handle_stats (struct task_service *ts, struct ttrpc_call *call,
              Pb__StatsRequest *req)
{
  struct task *t = lookup (ts, call, req->id, NULL);
  uint64_t cpu_ns = 0, rss = 0;
  if (t == NULL || migration_refuses (ts, call, t))
    ;
  else if (t->kind != TASK_POD_SANDBOX && !t->exited && !t->creating)
    guest_container_stats (t, call);
  else if (t->exited || uvm_usage (sandbox_uvm (ts), &cpu_ns, &rss) < 0)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: process already finished: not found",
                          t->id);
  else
    task_reply_metrics (call, cpu_ns, rss, sandbox_memory_bytes (ts), rss, 1);
  return false;
}
TTRPC_HANDLER (stats, Pb__StatsRequest, pb__stats_request)

static bool
handle_connect (struct task_service *ts, struct ttrpc_call *call,
                Pb__ConnectRequest *req)
{
  struct task *t = task_find (ts, req->id);
  Pb__ConnectResponse resp = PB__CONNECT_RESPONSE__INIT;
  resp.shim_pid = (uint32_t) getpid ();
  resp.task_pid = t ? t->pid : 0;
  resp.version = SHIM_NAME " " SHIM_VERSION;
  ttrpc_call_reply (call, &resp.base);
  return false;
}
TTRPC_HANDLER (connect, Pb__ConnectRequest, pb__connect_request)

static bool
handle_shutdown (struct task_service *ts, struct ttrpc_call *call,
                 Pb__ShutdownRequest *req)
{
  (void) req; /* the shim decides by what is left, not by the id */
  ttrpc_call_reply (call, NULL);
  /* Grouped shims get one Shutdown per task: exit with the last one.  */
  if (service_tasks (ts)->count == 0 && service_sandbox (ts) == NULL
      && !service_closing (ts))
    service_config (ts)->on_shutdown (service_config (ts)->data);
  return false;
}
TTRPC_HANDLER (shutdown, Pb__ShutdownRequest, pb__shutdown_request)

static bool
handle_close_io (struct task_service *ts, struct ttrpc_call *call,
                 Pb__CloseIORequest *req)
{
  if (migration_refuses (ts, call, NULL))
    return false;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL && t->kind != TASK_POD_SANDBOX)
    {
      if (req->stdin && t->relay != NULL)
        stdio_relay_close_stdin (t->relay);
      ttrpc_call_reply (call, NULL);
    }
  else if (t != NULL)
    {
      if (req->stdin && t->stdio_fds[0] >= 0)
        {
          close (t->stdio_fds[0]);
          t->stdio_fds[0] = -1;
        }
      ttrpc_call_reply (call, NULL);
    }
  return false;
}
TTRPC_HANDLER (close_io, Pb__CloseIORequest, pb__close_iorequest)

static bool
handle_resize_pty (struct task_service *ts, struct ttrpc_call *call,
                   Pb__ResizePtyRequest *req)
{
  if (migration_refuses (ts, call, NULL))
    return false;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      if (!t->terminal)
        ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                              "task %s has no terminal to resize", t->id);
      else if (t->kind == TASK_POD_SANDBOX || t->exited || t->creating)
        ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                              "task %s has no running process to resize",
                              t->id);
      else
        guest_process_resize (t, call, req->width, req->height);
    }
  return false;
}
TTRPC_HANDLER (resize_pty, Pb__ResizePtyRequest, pb__resize_pty_request)

static bool
handle_exec (struct task_service *ts, struct ttrpc_call *call,
             Pb__ExecProcessRequest *req)
{
  if (migration_refuses (ts, call, NULL))
    return false;
  struct task *c = task_find (ts, req->id);
  if (c == NULL)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: container not created: not found",
                          req->id);
  else if (c->kind == TASK_POD_SANDBOX)
    ttrpc_call_fail_code (
        call, GRPC_UNIMPLEMENTED,
        "exec %s in %s: a pod sandbox task is the UVM itself "
        "and has no processes to join",
        req->exec_id, req->id);
  else if (*req->exec_id == '\0' || task_find_exec (ts, req->id, req->exec_id))
    ttrpc_call_fail_code (call, GRPC_ALREADY_EXISTS,
                          "exec %s in %s: id missing or already exists",
                          req->exec_id, req->id);
  else if (c->exited || c->status != PB__TASK_STATUS__RUNNING)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "exec %s in %s: the container is not running",
                          req->exec_id, req->id);
  else if (req->spec == NULL)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "exec %s in %s: no process spec", req->exec_id,
                          req->id);
  else
    guest_process_exec (c, call, req);
  return false;
}
TTRPC_HANDLER (exec, Pb__ExecProcessRequest, pb__exec_process_request)

/* containerd's type for the OCI LinuxResources it sends in Update.  */
#define LINUX_RESOURCES_URL                                                   \
  "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"

static bool
handle_update (struct task_service *ts, struct ttrpc_call *call,
               Pb__UpdateTaskRequest *req)
{
  if (migration_refuses (ts, call, NULL))
    return false;
  struct task *t = lookup (ts, call, req->id, NULL);
  if (t == NULL)
    ;
  else if (t->kind == TASK_POD_SANDBOX)
    ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                          "update %s: the pod sandbox task is its UVM, and "
                          "resizing a running UVM is not supported (update "
                          "the pod's containers)",
                          t->id);
  else if (t->exited || t->creating)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "update %s: the container is not running", t->id);
  else if (req->resources == NULL
           || strcmp (req->resources->type_url, LINUX_RESOURCES_URL) != 0)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "update %s: resources: expected %s, got %s", t->id,
                          LINUX_RESOURCES_URL,
                          req->resources ? req->resources->type_url
                                         : "nothing");
  else
    guest_container_update (t, call, (const char *) req->resources->value.data,
                            req->resources->value.len);
  return false;
}
TTRPC_HANDLER (update, Pb__UpdateTaskRequest, pb__update_task_request)

/* Methods that are answered but not supported, with the reason.  */
static void
h_unsupported (struct ttrpc_call *call, void *data, const uint8_t *payload,
               size_t len)
{
  (void) data;
  (void) payload;
  (void) len;
  const char *m = ttrpc_call_method (call);
  const char *why
      = strstr (m, ".sandbox.v1.")
            ? "containerd's sandbox API (sandboxer = \"shim\") is not served "
              "by this shim yet: configure the runtime with sandboxer = "
              "\"podsandbox\" (the default)"
        : strstr (m, "/Checkpoint")
            ? "checkpointing a UVM sandbox is not supported (live migration "
              "moves the VM instead)"
            : "pausing and resuming a UVM sandbox is not supported";
  ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED, "%s: %s", m, why);
}

/* The methods, and what each does while the sandbox migrates
   (migration_state.h; the handlers ask migration_refuses).  A Kill of the
   sandbox's task is served and gives the migration up first
   (signal_sandbox): an orchestrator that died must not leave the sandbox
   unkillable.  */
static const struct ttrpc_method task_methods[] = {
  { "Create", h_create, MIGRATION_CALL_STARTS_PROCESS },
  { "Start", h_start, MIGRATION_CALL_REFUSED_BUT_SANDBOX },
  { "State", h_state, MIGRATION_CALL_SERVED },
  { "Wait", h_wait, MIGRATION_CALL_SERVED },
  { "Kill", h_kill, MIGRATION_CALL_SERVED_BUT_ADOPTED },
  { "Delete", h_delete, MIGRATION_CALL_REFUSED_AT_SOURCE },
  { "Pids", h_pids, MIGRATION_CALL_SERVED_BUT_ADOPTED },
  { "Stats", h_stats, MIGRATION_CALL_SERVED_BUT_ADOPTED },
  { "Connect", h_connect, MIGRATION_CALL_SERVED },
  { "Shutdown", h_shutdown, MIGRATION_CALL_SERVED },
  { "CloseIO", h_close_io, MIGRATION_CALL_REFUSED },
  { "ResizePty", h_resize_pty, MIGRATION_CALL_REFUSED },
  { "Exec", h_exec, MIGRATION_CALL_STARTS_PROCESS },
  { "Update", h_update, MIGRATION_CALL_REFUSED },
  { "Pause", h_unsupported, MIGRATION_CALL_SERVED },
  { "Resume", h_unsupported, MIGRATION_CALL_SERVED },
  { "Checkpoint", h_unsupported, MIGRATION_CALL_SERVED },
};

/* containerd 2's sandbox API: every call answered, none served yet.  */
static const struct ttrpc_method sandbox_methods[] = {
  { "CreateSandbox", h_unsupported, MIGRATION_CALL_SERVED },
  { "StartSandbox", h_unsupported, MIGRATION_CALL_SERVED },
  { "Platform", h_unsupported, MIGRATION_CALL_SERVED },
  { "StopSandbox", h_unsupported, MIGRATION_CALL_SERVED },
  { "WaitSandbox", h_unsupported, MIGRATION_CALL_SERVED },
  { "SandboxStatus", h_unsupported, MIGRATION_CALL_SERVED },
  { "PingSandbox", h_unsupported, MIGRATION_CALL_SERVED },
  { "ShutdownSandbox", h_unsupported, MIGRATION_CALL_SERVED },
  { "SandboxMetrics", h_unsupported, MIGRATION_CALL_SERVED },
};

struct task_service *
task_service_new (const struct task_service_config *c)
{
  return service_record_new (c);
}

void
task_service_register (struct task_service *ts, struct ttrpc_server *s)
{
  static struct ttrpc_service v2
      = { "containerd.task.v2.Task", task_methods,
          sizeof task_methods / sizeof task_methods[0], NULL };
  static struct ttrpc_service v3
      = { "containerd.task.v3.Task", task_methods,
          sizeof task_methods / sizeof task_methods[0], NULL };
  static struct ttrpc_service sandbox
      = { "containerd.runtime.sandbox.v1.Sandbox", sandbox_methods,
          sizeof sandbox_methods / sizeof sandbox_methods[0], NULL };
  v2.data = v3.data = sandbox.data = ts;
  ttrpc_server_register (s, &v2);
  ttrpc_server_register (s, &v3);
  ttrpc_server_register (s, &sandbox);
}

bool
task_service_is_empty (const struct task_service *ts)
{
  return service_tasks (ts)->count == 0 && service_sandbox (ts) == NULL;
}

void
task_service_close (struct task_service *ts)
{
  service_set_closing (ts);
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    task_fail_parked (&t->waiters, GRPC_UNAVAILABLE, "shim shutting down");
    task_fail_parked (&t->deleters, GRPC_UNAVAILABLE, "shim shutting down");
    list_remove (pos);
    task_free (t);
  }
  sandbox_end (ts);
  service_record_free (ts);
}
