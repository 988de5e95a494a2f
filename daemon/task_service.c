#include "task_service.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.pb-c.h"
#include "metrics.pb-c.h"
#include "proto/cleanup.h"
#include "proto/list.h"
#include "proto/log.h"
#include "proto/oci_spec.h"
#include "proto/pb_pack.h"
#include "proto/xalloc.h"
#include "runtimeoptions.pb-c.h"
#include "sandbox_plan.h"
#include "sha256.h"
#include "task.pb-c.h"
#include "uvm/uvm.h"

#define SHIM_VERSION "containerd-shim-lcow-v2 0.1.0"
#define ANN_CRI_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define ANN_CRI_SANDBOX_ID "io.kubernetes.cri.sandbox-id"

struct parked
{
  struct list link;
  struct ttrpc_call *call;
};

struct task
{
  struct list link;
  struct task_service *ts;
  char *id;
  char *bundle;
  char *stdin_path, *stdout_path, *stderr_path;
  bool terminal;
  bool is_sandbox;
  Pb__TaskStatus status;
  uint32_t pid;
  bool exited;
  uint32_t exit_status;
  struct timespec exited_at;
  struct list waiters;
  struct list deleters;
  int stdio_fds[3];
};

struct sandbox
{
  char *id;
  bool migratable;
  struct sandbox_plan plan;
  struct uvm *uvm;
  struct task *task;
  struct ttrpc_call *create_call;
  /* The Create request's rootfs, for the TaskCreate event.  */
  Pb__CreateTaskRequest *create_req;
};

struct task_service
{
  struct task_service_config cfg;
  struct list tasks;
  size_t ntasks;
  struct sandbox *sandbox;
  bool closing;
};

/* ---- helpers ---------------------------------------------------------- */

char *
task_service_state_dir (const char *state_root, const char *ns, const char *id)
{
  char *key = xasprintf ("%s/%s", ns, id);
  char hex[2 * SHA256_DIGEST_LEN + 1];
  sha256_hex (key, strlen (key), hex);
  free (key);
  /* 32 hex digits keep <dir>/vsock_<port> well inside sun_path.  */
  hex[32] = '\0';
  return xasprintf ("%s/%s", state_root, hex);
}

static struct task *
find_task (struct task_service *ts, const char *id)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &ts->tasks)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (strcmp (t->id, id) == 0)
      return t;
  }
  return NULL;
}

static void
to_timestamp (const struct timespec *ts, Pb__Timestamp *out)
{
  out->seconds = ts->tv_sec;
  out->nanos = (int32_t) ts->tv_nsec;
}

static void
publish (struct task_service *ts, const char *topic, const char *type,
         const ProtobufCMessage *msg)
{
  event_publisher_publish (ts->cfg.events, topic, type, msg);
}

#define DECODE(type, fn, call, payload, len)                                  \
  ({                                                                          \
    type *req_ = fn (NULL, len, payload);                                     \
    if (req_ == NULL)                                                         \
      ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,                      \
                            "ttrpc: error unmarshalling payload: invalid "    \
                            "protobuf");                                      \
    req_;                                                                     \
  })

/* Resolves (id, exec_id) to a task, or fails the call.  Exec processes
   arrive with the guest agent bridge; until then none exists.  */
static struct task *
lookup (struct task_service *ts, struct ttrpc_call *call, const char *id,
        const char *exec_id)
{
  struct task *t = find_task (ts, id);
  if (t == NULL)
    {
      ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                            "task %s: container not created: not found", id);
      return NULL;
    }
  if (exec_id != NULL && *exec_id != '\0')
    {
      ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                            "process does not exist %s: not found", exec_id);
      return NULL;
    }
  return t;
}

static void
close_stdio (struct task *t)
{
  for (int i = 0; i < 3; i++)
    if (t->stdio_fds[i] >= 0)
      {
        close (t->stdio_fds[i]);
        t->stdio_fds[i] = -1;
      }
}

/* Holds the client's stdio FIFOs open for the task's life, so that their
   readers see EOF exactly when the task has exited.  O_RDWR never blocks
   on a FIFO without a peer.  URIs (file://, binary://) carry no output from
   a sandbox task and are left alone.  */
static void
open_stdio (struct task *t)
{
  const char *paths[3] = { t->stdin_path, t->stdout_path, t->stderr_path };
  for (int i = 0; i < 3; i++)
    {
      t->stdio_fds[i] = -1;
      if (paths[i] == NULL || paths[i][0] != '/')
        continue;
      t->stdio_fds[i] = open (paths[i], O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (t->stdio_fds[i] < 0)
        log_warn ("task %s: open %s: %s", t->id, paths[i], strerror (errno));
    }
}

static void
task_free (struct task *t)
{
  close_stdio (t);
  free (t->id);
  free (t->bundle);
  free (t->stdin_path);
  free (t->stdout_path);
  free (t->stderr_path);
  free (t);
}

static void
reply_wait (struct task *t, struct ttrpc_call *call)
{
  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  to_timestamp (&t->exited_at, &ts);
  Pb__WaitResponse resp = PB__WAIT_RESPONSE__INIT;
  resp.exit_status = t->exit_status;
  resp.exited_at = &ts;
  ttrpc_call_reply (call, &resp.base);
}

static void delete_exited_task (struct task *t, struct ttrpc_call *call);

/* The one place a task's exit is recorded: one TaskExit, every waiter.  */
static void
task_exited (struct task *t, uint32_t exit_status)
{
  if (t->exited)
    return;
  t->exited = true;
  t->status = PB__TASK_STATUS__STOPPED;
  t->exit_status = exit_status;
  clock_gettime (CLOCK_REALTIME, &t->exited_at);
  close_stdio (t);

  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  to_timestamp (&t->exited_at, &ts);
  Pb__TaskExit ev = PB__TASK_EXIT__INIT;
  ev.container_id = t->id;
  ev.id = t->id;
  ev.pid = t->pid;
  ev.exit_status = exit_status;
  ev.exited_at = &ts;
  publish (t->ts, "/tasks/exit", "containerd.events.TaskExit", &ev.base);
  char status[16];
  snprintf (status, sizeof status, "%u", exit_status);
  log_entry (LOG_LEVEL_INFO, "task exited",
             (struct log_field[]){ { "task", t->id }, { "status", status } },
             2);

  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &t->waiters)
  {
    struct parked *p = list_entry (pos, struct parked, link);
    list_remove (pos);
    reply_wait (t, p->call);
    free (p);
  }
  list_for_each_safe (pos, tmp, &t->deleters)
  {
    struct parked *p = list_entry (pos, struct parked, link);
    list_remove (pos);
    struct ttrpc_call *call = p->call;
    free (p);
    if (find_task (t->ts, t->id) == t)
      delete_exited_task (t, call);
    else
      ttrpc_call_fail_code (call, GRPC_NOT_FOUND, "task %s: not found", t->id);
  }
}

static void
fail_parked (struct list *l, int code, const char *why)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, l)
  {
    struct parked *p = list_entry (pos, struct parked, link);
    list_remove (pos);
    ttrpc_call_fail_code (p->call, code, "%s", why);
    free (p);
  }
}

static void
park (struct list *l, struct ttrpc_call *call)
{
  struct parked *p = xzalloc (sizeof *p);
  p->call = call;
  list_add_tail (l, &p->link);
}

/* ---- sandbox ---------------------------------------------------------- */

static void
sandbox_free (struct sandbox *sb)
{
  if (sb == NULL)
    return;
  uvm_destroy (sb->uvm);
  sandbox_plan_release (&sb->plan);
  if (sb->create_req)
    pb__create_task_request__free_unpacked (sb->create_req, NULL);
  free (sb->id);
  free (sb);
}

static void
on_uvm_started (void *data, const shim_error *err)
{
  struct sandbox *sb = data;
  struct task_service *ts = sb->task->ts;
  struct ttrpc_call *call = sb->create_call;
  sb->create_call = NULL;
  if (err != NULL)
    {
      shim_error e = { err->code, xasprintf ("create sandbox %s: start UVM: %s",
                                             sb->id, err->msg) };
      log_error ("%s", e.msg);
      ttrpc_call_fail (call, &e);
      free (e.msg);
      task_free (sb->task);
      ts->sandbox = NULL;
      sandbox_free (sb);
      return;
    }
  struct task *t = sb->task;
  t->pid = (uint32_t) uvm_pid (sb->uvm);
  t->status = PB__TASK_STATUS__CREATED;
  list_add_tail (&ts->tasks, &t->link);
  ts->ntasks++;
  open_stdio (t);

  Pb__CreateTaskRequest *r = sb->create_req;
  Pb__TaskIO io = PB__TASK_IO__INIT;
  io.stdin = r->stdin;
  io.stdout = r->stdout;
  io.stderr = r->stderr;
  io.terminal = r->terminal;
  Pb__TaskCreate ev = PB__TASK_CREATE__INIT;
  ev.container_id = t->id;
  ev.bundle = t->bundle;
  ev.n_rootfs = r->n_rootfs;
  ev.rootfs = r->rootfs;
  ev.io = &io;
  ev.checkpoint = r->checkpoint;
  ev.pid = t->pid;
  publish (ts, "/tasks/create", "containerd.events.TaskCreate", &ev.base);
  pb__create_task_request__free_unpacked (sb->create_req, NULL);
  sb->create_req = NULL;

  char pid[16];
  snprintf (pid, sizeof pid, "%u", t->pid);
  log_entry (LOG_LEVEL_INFO, "sandbox created",
             (struct log_field[]){ { "sandbox", sb->id }, { "pid", pid } }, 2);
  Pb__CreateTaskResponse resp = PB__CREATE_TASK_RESPONSE__INIT;
  resp.pid = t->pid;
  ttrpc_call_reply (call, &resp.base);
}

static void
on_uvm_exited (void *data, int64_t exit_status, int term_signal)
{
  struct sandbox *sb = data;
  uint32_t status = term_signal ? 128u + (uint32_t) term_signal
                                : (uint32_t) exit_status;
  /* Every container of the sandbox goes with its VM.  */
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &sb->task->ts->tasks)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t != sb->task)
      task_exited (t, 255);
  }
  task_exited (sb->task, status);
}

static const struct uvm_events uvm_events = {
  .on_started = on_uvm_started,
  .on_exited = on_uvm_exited,
};

static char *
runtime_config_path (const Pb__Any *options)
{
  /* runtimeoptions.v1.Options; other option types carry no path.  */
  if (options == NULL || options->type_url == NULL
      || strstr (options->type_url, "runtimeoptions.v1.Options") == NULL)
    return NULL;
  Pb__RuntimeOptions *o = pb__runtime_options__unpack (
      NULL, options->value.len, options->value.data);
  if (o == NULL)
    return NULL;
  char *path = *o->config_path ? xstrdup (o->config_path) : NULL;
  pb__runtime_options__free_unpacked (o, NULL);
  return path;
}

static void
create_sandbox (struct task_service *ts, struct ttrpc_call *call,
                Pb__CreateTaskRequest *req, const struct oci_spec *spec,
                const char *sandbox_id)
{
  shim_error *err = NULL;
  if (ts->sandbox != NULL)
    {
      ttrpc_call_fail_code (call, GRPC_ALREADY_EXISTS,
                            "sandbox %s already exists in this shim: already "
                            "exists",
                            ts->sandbox->id);
      pb__create_task_request__free_unpacked (req, NULL);
      return;
    }
  struct sandbox *sb = xzalloc (sizeof *sb);
  sb->id = xstrdup (sandbox_id);
  cleanup_free char *config_path = runtime_config_path (req->options);
  if (sandbox_plan_build (sb->id, spec, config_path, &sb->plan, &err) < 0)
    {
      shim_error_wrap (&err, "create sandbox %s", sb->id);
      log_error ("%s", err->msg);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      free (sb->id);
      free (sb);
      pb__create_task_request__free_unpacked (req, NULL);
      return;
    }
  sb->migratable = sb->plan.migratable;

  struct task *t = xzalloc (sizeof *t);
  t->ts = ts;
  t->id = xstrdup (req->id);
  t->bundle = xstrdup (req->bundle);
  t->stdin_path = xstrdup (req->stdin);
  t->stdout_path = xstrdup (req->stdout);
  t->stderr_path = xstrdup (req->stderr);
  t->terminal = req->terminal;
  t->is_sandbox = true;
  t->stdio_fds[0] = t->stdio_fds[1] = t->stdio_fds[2] = -1;
  list_init (&t->link);
  list_init (&t->waiters);
  list_init (&t->deleters);
  sb->task = t;
  sb->create_call = call;
  sb->create_req = req;

  cleanup_free char *state_dir
      = task_service_state_dir (ts->cfg.state_root, ts->cfg.ns, req->id);
  struct uvm_config uc = {
    .id = sb->id,
    .state_dir = state_dir,
    .bundle = req->bundle,
    .opts = &sb->plan.opts,
    .kernel_cmdline = sb->plan.kernel_cmdline,
    .backend = sb->plan.cfg.vmm == VMM_KIND_QEMU ? &vmm_backend_qemu
                                                 : &vmm_backend_exec,
    .cfg = &sb->plan.cfg,
    .helper_exe = ts->cfg.self_exe,
  };
  ts->sandbox = sb;
  if (uvm_start (ts->cfg.loop, &uc, &uvm_events, sb, &sb->uvm, &err) < 0)
    {
      sb->uvm = NULL;
      shim_error_wrap (&err, "create sandbox %s: start UVM", sb->id);
      log_error ("%s", err->msg);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      task_free (t);
      ts->sandbox = NULL;
      sandbox_free (sb);
    }
}

/* ---- Task API handlers ------------------------------------------------ */

static void
h_create (struct ttrpc_call *call, void *data, const uint8_t *payload,
          size_t len)
{
  struct task_service *ts = data;
  Pb__CreateTaskRequest *req = DECODE (
      Pb__CreateTaskRequest, pb__create_task_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  if (*req->id == '\0' || *req->bundle == '\0')
    {
      ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                            "create: id and bundle are required");
      goto out;
    }
  if (find_task (ts, req->id) != NULL
      || (ts->sandbox && strcmp (ts->sandbox->task->id, req->id) == 0))
    {
      ttrpc_call_fail_code (call, GRPC_ALREADY_EXISTS,
                            "task %s: already exists", req->id);
      goto out;
    }
  if (*req->checkpoint != '\0')
    {
      ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                            "create %s: restoring from a checkpoint is not "
                            "supported for UVM sandboxes",
                            req->id);
      goto out;
    }

  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  if (oci_spec_load_bundle (req->bundle, &spec, &err) < 0)
    {
      if (err->code == GRPC_UNKNOWN || err->code == GRPC_NOT_FOUND)
        err->code = GRPC_INVALID_ARGUMENT;
      shim_error_wrap (&err, "create %s: read spec", req->id);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      goto out;
    }

  /* CRI annotations decide between a sandbox and a container joining one.  */
  const char *type = oci_spec_annotation (spec, ANN_CRI_CONTAINER_TYPE);
  const char *sandbox_id = oci_spec_annotation (spec, ANN_CRI_SANDBOX_ID);
  if (type != NULL && sandbox_id == NULL)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "cannot specify '%s' without '%s'",
                          ANN_CRI_CONTAINER_TYPE, ANN_CRI_SANDBOX_ID);
  else if (type == NULL && sandbox_id != NULL)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "cannot specify '%s' without '%s'",
                          ANN_CRI_SANDBOX_ID, ANN_CRI_CONTAINER_TYPE);
  else if (type == NULL || strcmp (type, "sandbox") == 0)
    {
      create_sandbox (ts, call, req, spec, sandbox_id ? sandbox_id : req->id);
      req = NULL;
    }
  else if (strcmp (type, "container") == 0)
    {
      struct sandbox *sb = ts->sandbox;
      if (sb == NULL || strcmp (sb->id, sandbox_id) != 0 || sb->task->exited)
        ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                              "create %s: sandbox %s is not running in this "
                              "shim",
                              req->id, sandbox_id);
      else if (sb->migratable
               && sandbox_check_container (sb->id, req->id, spec, &err) < 0)
        {
          log_error ("%s", err->msg);
          ttrpc_call_fail (call, err);
          shim_error_free (err);
        }
      else
        ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                              "create %s: running containers inside the UVM "
                              "needs the guest agent bridge, which this "
                              "version of the shim does not have",
                              req->id);
    }
  else
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "invalid '%s': '%s'", ANN_CRI_CONTAINER_TYPE, type);
  oci_spec_free (spec);
out:
  if (req != NULL)
    pb__create_task_request__free_unpacked (req, NULL);
}

static void
h_start (struct ttrpc_call *call, void *data, const uint8_t *payload,
         size_t len)
{
  struct task_service *ts = data;
  Pb__StartRequest *req
      = DECODE (Pb__StartRequest, pb__start_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      if (t->status != PB__TASK_STATUS__CREATED)
        ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                              "task %s: cannot start a task that is %s", t->id,
                              t->exited ? "stopped" : "already running");
      else
        {
          t->status = PB__TASK_STATUS__RUNNING;
          /* TaskStart is queued before the reply and before any exit.  */
          Pb__TaskStart ev = PB__TASK_START__INIT;
          ev.container_id = t->id;
          ev.pid = t->pid;
          publish (ts, "/tasks/start", "containerd.events.TaskStart", &ev.base);
          Pb__StartResponse resp = PB__START_RESPONSE__INIT;
          resp.pid = t->pid;
          ttrpc_call_reply (call, &resp.base);
        }
    }
  pb__start_request__free_unpacked (req, NULL);
}

static void
h_state (struct ttrpc_call *call, void *data, const uint8_t *payload,
         size_t len)
{
  struct task_service *ts = data;
  Pb__StateRequest *req
      = DECODE (Pb__StateRequest, pb__state_request__unpack, call, payload, len);
  if (req == NULL)
    return;
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
          to_timestamp (&t->exited_at, &ts_);
          resp.exited_at = &ts_;
        }
      ttrpc_call_reply (call, &resp.base);
    }
  pb__state_request__free_unpacked (req, NULL);
}

static void
h_wait (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  struct task_service *ts = data;
  Pb__WaitRequest *req
      = DECODE (Pb__WaitRequest, pb__wait_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      if (t->exited)
        reply_wait (t, call);
      else
        park (&t->waiters, call);
    }
  pb__wait_request__free_unpacked (req, NULL);
}

static void
h_kill (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  struct task_service *ts = data;
  Pb__KillRequest *req
      = DECODE (Pb__KillRequest, pb__kill_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  shim_error *err = NULL;
  if (t == NULL)
    ;
  else if (t->exited)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: process already finished: not found",
                          t->id);
  else if (req->signal == 0 || req->signal > 64)
    ttrpc_call_fail_code (call, GRPC_INVALID_ARGUMENT,
                          "task %s: invalid signal %u", t->id, req->signal);
  else if (uvm_signal (ts->sandbox->uvm, (int) req->signal, &err) < 0)
    {
      shim_error_wrap (&err, "kill %s", t->id);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
    }
  else
    {
      char sig[16];
      snprintf (sig, sizeof sig, "%u", req->signal);
      log_entry (LOG_LEVEL_INFO, "signalled the VMM",
                 (struct log_field[]){ { "task", t->id }, { "signal", sig } },
                 2);
      ttrpc_call_reply (call, NULL);
    }
  pb__kill_request__free_unpacked (req, NULL);
}

static void
delete_exited_task (struct task *t, struct ttrpc_call *call)
{
  struct task_service *ts = t->ts;
  Pb__Timestamp stamp = PB__TIMESTAMP__INIT;
  to_timestamp (&t->exited_at, &stamp);
  Pb__TaskDelete ev = PB__TASK_DELETE__INIT;
  ev.container_id = t->id;
  ev.id = t->id;
  ev.pid = t->pid;
  ev.exit_status = t->exit_status;
  ev.exited_at = &stamp;
  publish (ts, "/tasks/delete", "containerd.events.TaskDelete", &ev.base);

  Pb__DeleteResponse resp = PB__DELETE_RESPONSE__INIT;
  resp.pid = t->pid;
  resp.exit_status = t->exit_status;
  resp.exited_at = &stamp;
  ttrpc_call_reply (call, &resp.base);

  list_remove (&t->link);
  ts->ntasks--;
  log_entry (LOG_LEVEL_INFO, "task deleted",
             (struct log_field[]){ { "task", t->id } }, 1);
  if (t->is_sandbox && ts->sandbox != NULL && ts->sandbox->task == t)
    {
      sandbox_free (ts->sandbox);
      ts->sandbox = NULL;
    }
  fail_parked (&t->waiters, GRPC_NOT_FOUND, "task deleted");
  task_free (t);
}

static void
h_delete (struct ttrpc_call *call, void *data, const uint8_t *payload,
          size_t len)
{
  struct task_service *ts = data;
  Pb__DeleteRequest *req = DECODE (Pb__DeleteRequest, pb__delete_request__unpack,
                                   call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t == NULL)
    ;
  else if (t->exited)
    delete_exited_task (t, call);
  else if (t->status == PB__TASK_STATUS__CREATED)
    {
      /* Never started: stop the VM and answer once it is gone.  */
      park (&t->deleters, call);
      uvm_signal (ts->sandbox->uvm, SIGKILL, NULL);
    }
  else
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s: cannot delete a running task", t->id);
  pb__delete_request__free_unpacked (req, NULL);
}

static void
h_pids (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  struct task_service *ts = data;
  Pb__PidsRequest *req
      = DECODE (Pb__PidsRequest, pb__pids_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, NULL);
  if (t != NULL)
    {
      Pb__ProcessInfo pi = PB__PROCESS_INFO__INIT;
      Pb__ProcessInfo *list[] = { &pi };
      pi.pid = t->pid;
      Pb__PidsResponse resp = PB__PIDS_RESPONSE__INIT;
      resp.n_processes = t->exited ? 0 : 1;
      resp.processes = list;
      ttrpc_call_reply (call, &resp.base);
    }
  pb__pids_request__free_unpacked (req, NULL);
}

static void
h_stats (struct ttrpc_call *call, void *data, const uint8_t *payload,
         size_t len)
{
  struct task_service *ts = data;
  Pb__StatsRequest *req
      = DECODE (Pb__StatsRequest, pb__stats_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, NULL);
  uint64_t cpu_ns = 0, rss = 0;
  if (t == NULL)
    ;
  else if (t->exited || uvm_usage (ts->sandbox->uvm, &cpu_ns, &rss) < 0)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: process already finished: not found",
                          t->id);
  else
    {
      Pb__CPUUsage usage = PB__CPUUSAGE__INIT;
      usage.total = cpu_ns;
      Pb__CPUStat cpu = PB__CPUSTAT__INIT;
      cpu.usage = &usage;
      Pb__MemoryEntry mu = PB__MEMORY_ENTRY__INIT;
      mu.usage = rss;
      mu.limit = ts->sandbox->plan.opts.memory_mb * 1024 * 1024;
      Pb__MemoryStat mem = PB__MEMORY_STAT__INIT;
      mem.rss = rss;
      mem.usage = &mu;
      Pb__PidsStat pids = PB__PIDS_STAT__INIT;
      pids.current = 1;
      Pb__CgroupsV1Metrics m = PB__CGROUPS_V1_METRICS__INIT;
      m.cpu = &cpu;
      m.memory = &mem;
      m.pids = &pids;
      Pb__Any any = PB__ANY__INIT;
      any.type_url = "io.containerd.cgroups.v1.Metrics";
      any.value = pb_pack (&m.base);
      Pb__StatsResponse resp = PB__STATS_RESPONSE__INIT;
      resp.stats = &any;
      ttrpc_call_reply (call, &resp.base);
      free (any.value.data);
    }
  pb__stats_request__free_unpacked (req, NULL);
}

static void
h_connect (struct ttrpc_call *call, void *data, const uint8_t *payload,
           size_t len)
{
  struct task_service *ts = data;
  Pb__ConnectRequest *req = DECODE (
      Pb__ConnectRequest, pb__connect_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = find_task (ts, req->id);
  Pb__ConnectResponse resp = PB__CONNECT_RESPONSE__INIT;
  resp.shim_pid = (uint32_t) getpid ();
  resp.task_pid = t ? t->pid : 0;
  resp.version = SHIM_VERSION;
  ttrpc_call_reply (call, &resp.base);
  pb__connect_request__free_unpacked (req, NULL);
}

static void
h_shutdown (struct ttrpc_call *call, void *data, const uint8_t *payload,
            size_t len)
{
  struct task_service *ts = data;
  Pb__ShutdownRequest *req = DECODE (
      Pb__ShutdownRequest, pb__shutdown_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  pb__shutdown_request__free_unpacked (req, NULL);
  ttrpc_call_reply (call, NULL);
  /* Grouped shims get one Shutdown per task: exit with the last one.  */
  if (ts->ntasks == 0 && ts->sandbox == NULL && !ts->closing)
    ts->cfg.on_shutdown (ts->cfg.data);
}

static void
h_close_io (struct ttrpc_call *call, void *data, const uint8_t *payload,
            size_t len)
{
  struct task_service *ts = data;
  Pb__CloseIORequest *req = DECODE (
      Pb__CloseIORequest, pb__close_iorequest__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      if (req->stdin && t->stdio_fds[0] >= 0)
        {
          close (t->stdio_fds[0]);
          t->stdio_fds[0] = -1;
        }
      ttrpc_call_reply (call, NULL);
    }
  pb__close_iorequest__free_unpacked (req, NULL);
}

static void
h_resize_pty (struct ttrpc_call *call, void *data, const uint8_t *payload,
              size_t len)
{
  struct task_service *ts = data;
  Pb__ResizePtyRequest *req = DECODE (
      Pb__ResizePtyRequest, pb__resize_pty_request__unpack, call, payload, len);
  if (req == NULL)
    return;
  struct task *t = lookup (ts, call, req->id, req->exec_id);
  if (t != NULL)
    {
      if (!t->terminal)
        ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                              "task %s has no terminal to resize", t->id);
      else
        ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                              "task %s: resizing a terminal needs the guest "
                              "agent bridge, which this version does not have",
                              t->id);
    }
  pb__resize_pty_request__free_unpacked (req, NULL);
}

static void
h_exec (struct ttrpc_call *call, void *data, const uint8_t *payload,
        size_t len)
{
  struct task_service *ts = data;
  Pb__ExecProcessRequest *req = DECODE (
      Pb__ExecProcessRequest, pb__exec_process_request__unpack, call, payload,
      len);
  if (req == NULL)
    return;
  if (find_task (ts, req->id) == NULL)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: container not created: not found",
                          req->id);
  else
    ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                          "exec %s in %s: running processes inside the UVM "
                          "needs the guest agent bridge, which this version "
                          "does not have",
                          req->exec_id, req->id);
  pb__exec_process_request__free_unpacked (req, NULL);
}

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
      = strstr (m, "/Checkpoint")
            ? "checkpointing a UVM sandbox is not supported (live migration "
              "moves the VM instead)"
        : strstr (m, "/Update")
            ? "updating the resources of a running UVM is not supported"
            : "pausing and resuming a UVM sandbox is not supported";
  ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED, "%s: %s", m, why);
}

static const struct ttrpc_method task_methods[] = {
  { "Create", h_create },       { "Start", h_start },
  { "State", h_state },         { "Wait", h_wait },
  { "Kill", h_kill },           { "Delete", h_delete },
  { "Pids", h_pids },           { "Stats", h_stats },
  { "Connect", h_connect },     { "Shutdown", h_shutdown },
  { "CloseIO", h_close_io },    { "ResizePty", h_resize_pty },
  { "Exec", h_exec },           { "Update", h_unsupported },
  { "Pause", h_unsupported },   { "Resume", h_unsupported },
  { "Checkpoint", h_unsupported },
};

struct task_service *
task_service_new (const struct task_service_config *c)
{
  struct task_service *ts = xzalloc (sizeof *ts);
  ts->cfg = *c;
  list_init (&ts->tasks);
  return ts;
}

void
task_service_register (struct task_service *ts, struct ttrpc_server *s)
{
  static struct ttrpc_service v2 = { "containerd.task.v2.Task", task_methods,
                                     sizeof task_methods
                                         / sizeof task_methods[0],
                                     NULL };
  static struct ttrpc_service v3 = { "containerd.task.v3.Task", task_methods,
                                     sizeof task_methods
                                         / sizeof task_methods[0],
                                     NULL };
  v2.data = v3.data = ts;
  ttrpc_server_register (s, &v2);
  ttrpc_server_register (s, &v3);
}

bool
task_service_is_empty (const struct task_service *ts)
{
  return ts->ntasks == 0 && ts->sandbox == NULL;
}

void
task_service_close (struct task_service *ts)
{
  ts->closing = true;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &ts->tasks)
  {
    struct task *t = list_entry (pos, struct task, link);
    fail_parked (&t->waiters, GRPC_UNAVAILABLE, "shim shutting down");
    fail_parked (&t->deleters, GRPC_UNAVAILABLE, "shim shutting down");
    list_remove (pos);
    task_free (t);
  }
  if (ts->sandbox != NULL)
    {
      struct sandbox *sb = ts->sandbox;
      if (sb->create_call != NULL)
        {
          ttrpc_call_fail_code (sb->create_call, GRPC_UNAVAILABLE,
                                "shim shutting down");
          task_free (sb->task);
        }
      sandbox_free (sb);
      ts->sandbox = NULL;
    }
  free (ts);
}
