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
#include "policy/container_policy.h"
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
#include "proto/file_io.h"
#include "proto/strbuf.h"
#include "stdio_relay.h"
#include "uvm/bridge.h"
#include "uvm/rootfs_image.h"
#include "uvm/uvm.h"

#define SHIM_VERSION "containerd-shim-lcow-v2 0.1.0"
#define ANN_CRI_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define ANN_CRI_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
/* How long the guest agent may take over one request.  */
#define GUEST_REQUEST_TIMEOUT_MS 30000
/* Largest pod file (/etc/hosts and the like) copied into the guest.  */
#define POD_FILE_MAX (256u << 10)
/* SCSI targets for container disks (0 is the UVM's rootfs.vhd).  */
#define SCSI_TARGET_MAX 255

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
  /* A process in the guest: a container's init (exec_id NULL) or an exec'd
     process of the container task `id`.  */
  bool in_guest;
  bool creating;
  char *exec_id;
  uint32_t key;
  struct stdio_relay *relay;
  /* A container's disk: its image and SCSI target while attached.  */
  char *image;
  uint32_t scsi_target;
  struct rootfs_image_job *job;
  /* The create chain's call and request (rootfs mounts, stdio).  */
  struct ttrpc_call *create_call;
  Pb__CreateTaskRequest *create_req;
  /* The guest create request, built before the disk is attached.  */
  char *guest_create;
  uint32_t exit_status_pending;
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
  uint32_t next_scsi_target;
  /* A standalone task (no CRI annotations) runs its own process in the
     UVM: its spec, until the UVM is up.  */
  struct oci_spec *standalone_spec;
};

struct task_service
{
  struct task_service_config cfg;
  struct list tasks;
  size_t ntasks;
  struct sandbox *sandbox;
  uint32_t next_process_key;
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
    if (strcmp (t->id, id) == 0 && t->exec_id == NULL)
      return t;
  }
  return NULL;
}

static struct task *
find_exec (struct task_service *ts, const char *id, const char *exec_id)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &ts->tasks)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t->exec_id != NULL && strcmp (t->id, id) == 0
        && strcmp (t->exec_id, exec_id) == 0)
      return t;
  }
  return NULL;
}

static struct task *
find_key (struct task_service *ts, uint32_t key)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &ts->tasks)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t->in_guest && t->key == key)
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

/* Resolves (id, exec_id) to a task or exec'd process, or fails the call.  */
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
      struct task *e = find_exec (ts, id, exec_id);
      if (e == NULL)
        ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                              "process does not exist %s: not found", exec_id);
      return e;
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
  stdio_relay_close (t->relay);
  rootfs_image_cancel (t->job);
  if (t->image != NULL)
    unlink (t->image);
  free (t->image);
  free (t->exec_id);
  free (t->guest_create);
  if (t->create_req != NULL)
    pb__create_task_request__free_unpacked (t->create_req, NULL);
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

static void
reply_delete (const struct task *t, struct ttrpc_call *call)
{
  Pb__Timestamp stamp = PB__TIMESTAMP__INIT;
  to_timestamp (&t->exited_at, &stamp);
  Pb__DeleteResponse resp = PB__DELETE_RESPONSE__INIT;
  resp.pid = t->pid;
  resp.exit_status = t->exit_status;
  resp.exited_at = &stamp;
  ttrpc_call_reply (call, &resp.base);
}

/* Stats as cgroups v1 Metrics, whatever measured them.  */
static void
reply_metrics (struct ttrpc_call *call, uint64_t cpu_ns, uint64_t memory,
               uint64_t memory_limit, uint64_t rss, uint64_t npids)
{
  Pb__CPUUsage usage = PB__CPUUSAGE__INIT;
  usage.total = cpu_ns;
  Pb__CPUStat cpu = PB__CPUSTAT__INIT;
  cpu.usage = &usage;
  Pb__MemoryEntry mu = PB__MEMORY_ENTRY__INIT;
  mu.usage = memory;
  mu.limit = memory_limit;
  Pb__MemoryStat mem = PB__MEMORY_STAT__INIT;
  mem.rss = rss;
  mem.usage = &mu;
  Pb__PidsStat pids = PB__PIDS_STAT__INIT;
  pids.current = npids;
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

/* A task record is created: TaskCreate (from its Create request) and the
   Create reply.  */
static void
reply_created (struct task *t, struct ttrpc_call *call,
               const Pb__CreateTaskRequest *r)
{
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
  publish (t->ts, "/tasks/create", "containerd.events.TaskCreate", &ev.base);
  Pb__CreateTaskResponse resp = PB__CREATE_TASK_RESPONSE__INIT;
  resp.pid = t->pid;
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
  stdio_relay_close (t->relay);
  t->relay = NULL;
  Pb__TaskExit ev = PB__TASK_EXIT__INIT;
  ev.container_id = t->id;
  ev.id = t->exec_id ? t->exec_id : t->id;
  ev.pid = t->pid;
  ev.exit_status = exit_status;
  ev.exited_at = &ts;
  publish (t->ts, "/tasks/exit", "containerd.events.TaskExit", &ev.base);
  char status[16];
  snprintf (status, sizeof status, "%u", exit_status);
  log_entry (LOG_LEVEL_INFO, "task exited",
             (struct log_field[]){ { "task", t->id },
                                   { "exec", t->exec_id ? t->exec_id : "" },
                                   { "status", status } },
             3);

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
  oci_spec_free (sb->standalone_spec);
  free (sb->id);
  free (sb);
}

static void container_create (struct task *t, struct ttrpc_call *call,
                              Pb__CreateTaskRequest *req,
                              const struct oci_spec *spec);

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
  list_add_tail (&ts->tasks, &t->link);
  ts->ntasks++;
  if (sb->standalone_spec != NULL)
    {
      /* The task's own process, in its UVM.  */
      Pb__CreateTaskRequest *req = sb->create_req;
      sb->create_req = NULL;
      container_create (t, call, req, sb->standalone_spec);
      return;
    }
  t->pid = (uint32_t) uvm_pid (sb->uvm);
  t->status = PB__TASK_STATUS__CREATED;
  open_stdio (t);

  char pid[16];
  snprintf (pid, sizeof pid, "%u", t->pid);
  log_entry (LOG_LEVEL_INFO, "sandbox created",
             (struct log_field[]){ { "sandbox", sb->id }, { "pid", pid } }, 2);
  reply_created (t, call, sb->create_req);
  pb__create_task_request__free_unpacked (sb->create_req, NULL);
  sb->create_req = NULL;
}

static void
on_uvm_exited (void *data, int64_t exit_status, int term_signal)
{
  struct sandbox *sb = data;
  uint32_t status = term_signal ? 128u + (uint32_t) term_signal
                                : (uint32_t) exit_status;
  /* Every container process of the sandbox goes with its VM.  Creates in
     flight fail on their own (their requests fail).  */
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &sb->task->ts->tasks)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t == sb->task || t->creating || t->exited)
      continue;
    log_entry (LOG_LEVEL_ERROR,
               "container process failed: the UVM exited under it",
               (struct log_field[]){ { "task", t->id },
                                     { "exec", t->exec_id ? t->exec_id : "" },
                                     { "uvm-id", sb->id } },
               3);
    task_exited (t, 255);
  }
  task_exited (sb->task, sb->task->in_guest ? 255 : status);
}


/* ---- processes in the guest ------------------------------------------- */

static void
relay_send_stdin (void *ctx, const void *bytes, size_t len)
{
  struct task *t = ctx;
  if (t->ts->sandbox != NULL)
    uvm_send_stream (t->ts->sandbox->uvm, t->key, BRIDGE_STDIN, bytes, len);
}

static void
relay_credit (void *ctx, uint8_t stream, uint32_t n)
{
  struct task *t = ctx;
  if (t->ts->sandbox != NULL)
    uvm_send_credit (t->ts->sandbox->uvm, t->key, stream, n);
}

static const struct stdio_relay_ops relay_ops = { relay_send_stdin,
                                                  relay_credit };

/* Connects the process's FIFOs; without them its output is discarded.  */
static void
open_relay (struct task *t)
{
  shim_error *err = NULL;
  if (stdio_relay_open (t->ts->cfg.loop, t->stdin_path, t->stdout_path,
                        t->stderr_path, &relay_ops, t, &t->relay, &err)
      < 0)
    {
      log_warn ("task %s: %s; its output is discarded", t->id, err->msg);
      shim_error_free (err);
      t->relay = NULL;
      uvm_send_stream (t->ts->sandbox->uvm, t->key, BRIDGE_STDIN, NULL, 0);
    }
  else
    stdio_relay_start (t->relay);
}

static void
finish_guest_exit (void *data)
{
  struct task *t = data;
  task_exited (t, t->exit_status_pending);
}

static void
on_guest_notify (void *data, const char *body, size_t len)
{
  struct sandbox *sb = data;
  uint32_t key, status;
  if (!bridge_exit_decode (body, len, &key, &status))
    return;
  struct task *t = find_key (sb->task->ts, key);
  if (t == NULL || t->exited)
    return;
  /* Everything the process wrote reaches the FIFOs before its exit.  */
  t->exit_status_pending = status;
  if (t->relay != NULL)
    stdio_relay_when_drained (t->relay, finish_guest_exit, t);
  else
    task_exited (t, status);
}

static void
on_guest_stream (void *data, uint32_t key, uint8_t stream,
                 const uint8_t *bytes, size_t len)
{
  struct sandbox *sb = data;
  struct task *t = find_key (sb->task->ts, key);
  if (t != NULL && t->relay != NULL)
    stdio_relay_output (t->relay, stream, bytes, len);
  else if (len > 0)
    uvm_send_credit (sb->uvm, key, stream, (uint32_t) len);
}

static void
on_guest_credit (void *data, uint32_t key, uint8_t stream, uint32_t n)
{
  struct sandbox *sb = data;
  struct task *t = find_key (sb->task->ts, key);
  if (t != NULL && t->relay != NULL && stream == BRIDGE_STDIN)
    stdio_relay_stdin_credit (t->relay, n);
}

/* A request about a process, answered when the guest replies; the task
   is looked up again then (it may be gone).  */
struct guest_op
{
  struct task_service *ts;
  char *id;
  char *exec_id;
  struct ttrpc_call *call;
};

static struct guest_op *
guest_op_new (struct task *t, struct ttrpc_call *call)
{
  struct guest_op *op = xzalloc (sizeof *op);
  op->ts = t->ts;
  op->id = xstrdup (t->id);
  op->exec_id = t->exec_id ? xstrdup (t->exec_id) : NULL;
  op->call = call;
  return op;
}

static struct task *
guest_op_task (struct guest_op *op)
{
  return op->exec_id ? find_exec (op->ts, op->id, op->exec_id)
                     : find_task (op->ts, op->id);
}

static void
guest_op_free (struct guest_op *op)
{
  free (op->id);
  free (op->exec_id);
  free (op);
}

/* Forgets an exec'd process record (not counted in ntasks).  */
static void
drop_exec (struct task *e)
{
  list_remove (&e->link);
  fail_parked (&e->waiters, GRPC_NOT_FOUND, "process deleted");
  task_free (e);
}

/* Sends body for t; reply gets a guest_op.  Fails the call on error.  */
static void
guest_call (struct task *t, struct ttrpc_call *call, const char *what,
            char *body, uvm_reply_fn reply)
{
  shim_error *err = NULL;
  struct guest_op *op = guest_op_new (t, call);
  if (t->ts->sandbox == NULL
      || uvm_request (t->ts->sandbox->uvm, body, GUEST_REQUEST_TIMEOUT_MS,
                      reply, op, &err)
             < 0)
    {
      if (err == NULL)
        shim_error_set (&err, GRPC_FAILED_PRECONDITION, "no sandbox");
      shim_error_wrap (&err, "%s %s", what, t->exec_id ? t->exec_id : t->id);
      ttrpc_call_fail (call, err);
      shim_error_free (err);
      guest_op_free (op);
      if (t->creating && t->exec_id != NULL)
        drop_exec (t);
    }
  free (body);
}

static void
fail_wrapped (struct ttrpc_call *call, const shim_error *err,
              const char *fmt, const char *id)
{
  shim_error e = { err->code, xasprintf (fmt, id, err->msg) };
  log_error ("%s", e.msg);
  ttrpc_call_fail (call, &e);
  free (e.msg);
}

/* ---- container create: image, disk, guest ------------------------------ */

static void sandbox_free (struct sandbox *sb);

/* Undoes a create in flight and fails its call; a standalone task takes its
   sandbox with it.  */
static void
container_create_failed (struct task *t, const shim_error *err)
{
  struct task_service *ts = t->ts;
  fail_wrapped (t->create_call, err, "create %s: %s", t->id);
  t->create_call = NULL;
  if (t->scsi_target != 0 && ts->sandbox != NULL)
    uvm_detach_disk (ts->sandbox->uvm, t->scsi_target);
  list_remove (&t->link);
  ts->ntasks--;
  bool standalone = ts->sandbox != NULL && ts->sandbox->task == t;
  task_free (t);
  if (standalone)
    {
      sandbox_free (ts->sandbox);
      ts->sandbox = NULL;
    }
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
      container_create_failed (t, err);
      shim_error_free (derr);
      return;
    }
  bridge_response_release (&resp);
  t->pid = resp.pid;
  t->creating = false;
  t->status = PB__TASK_STATUS__CREATED;
  open_relay (t);
  char pid[16];
  snprintf (pid, sizeof pid, "%u", t->pid);
  log_entry (LOG_LEVEL_INFO, "container created in the UVM",
             (struct log_field[]){ { "task", t->id }, { "guest-pid", pid } },
             2);
  reply_created (t, t->create_call, t->create_req);
  t->create_call = NULL;
  pb__create_task_request__free_unpacked (t->create_req, NULL);
  t->create_req = NULL;
}

static void
on_disk_attached (void *data, const shim_error *err)
{
  struct task *t = data;
  shim_error *rerr = NULL;
  if (err != NULL)
    {
      t->scsi_target = 0; /* nothing to detach */
      container_create_failed (t, err);
      return;
    }
  if (uvm_request (t->ts->sandbox->uvm, t->guest_create,
                   GUEST_REQUEST_TIMEOUT_MS, on_guest_created, t, &rerr)
      < 0)
    {
      container_create_failed (t, rerr);
      shim_error_free (rerr);
    }
  free (t->guest_create);
  t->guest_create = NULL;
}

static void
on_image_built (void *data, const shim_error *err)
{
  struct task *t = data;
  t->job = NULL;
  shim_error *aerr = NULL;
  if (err == NULL
      && uvm_attach_disk (t->ts->sandbox->uvm, t->image, t->scsi_target,
                          on_disk_attached, t, &aerr)
             == 0)
    return;
  t->scsi_target = 0;
  container_create_failed (t, err ? err : aerr);
  shim_error_free (aerr);
}

/* Reads the pod files the spec binds in; refuses every other bind mount
   (the UVM has no directory share), naming them all.  */
static int
read_pod_files (const struct oci_spec *spec, struct bridge_pod_file *files,
                char **contents, size_t *nfiles, shim_error **err)
{
  strbuf bad = STRBUF_INIT;
  *nfiles = 0;
  for (size_t i = 0; i < spec->nmounts; i++)
    {
      const struct oci_mount *m = &spec->mounts[i];
      /* /dev/shm is a tmpfs in the guest; nothing to copy.  */
      if (!mount_is_bind (m) || m->destination == NULL
          || strcmp (m->destination, "/dev/shm") == 0)
        continue;
      if (!mount_is_pod_file_destination (m->destination) || m->source == NULL)
        {
          strbuf_printf (&bad, "%s%s (from %s)", bad.len ? ", " : "",
                         m->destination, m->source ? m->source : "?");
          continue;
        }
      size_t len = 0;
      shim_error *rerr = NULL;
      if (read_file_capped (-1, m->source, POD_FILE_MAX, &contents[*nfiles],
                            &len, &rerr)
          < 0)
        {
          strbuf_printf (&bad, "%s%s (%s)", bad.len ? ", " : "",
                         m->destination, rerr->msg);
          shim_error_free (rerr);
          continue;
        }
      files[*nfiles] = (struct bridge_pod_file){ m->destination,
                                                 contents[*nfiles], len };
      (*nfiles)++;
    }
  if (bad.len == 0)
    return 0;
  shim_error_set (err, GRPC_INVALID_ARGUMENT,
                  "bind mounts need a directory share, which the UVM does not "
                  "have (only /etc/hosts, /etc/hostname, /etc/resolv.conf "
                  "and /dev/shm are supported): %s",
                  bad.data);
  strbuf_release (&bad);
  return -1;
}

/* Starts the create chain for t (in the task list, creating): builds the
   guest request, then the image, the disk, the guest container.  Takes
   req.  On a synchronous failure the call is failed and t is freed.  */
static void
container_create (struct task *t, struct ttrpc_call *call,
                  Pb__CreateTaskRequest *req, const struct oci_spec *spec)
{
  struct task_service *ts = t->ts;
  struct sandbox *sb = ts->sandbox;
  shim_error *err = NULL;
  t->in_guest = true;
  t->creating = true;
  t->key = ++ts->next_process_key;
  t->create_call = call;
  t->create_req = req;
  size_t nfiles = 0;
  struct bridge_pod_file *files
      = xzalloc ((spec->nmounts + 1) * sizeof *files);
  char **contents = xzalloc ((spec->nmounts + 1) * sizeof *contents);
  cleanup_free char *config = NULL;
  size_t config_len = 0;
  cleanup_free char *rootfs = NULL;
  if (read_pod_files (spec, files, contents, &nfiles, &err) < 0)
    goto fail;
  if (spec->process == NULL || spec->process->nargs == 0)
    {
      shim_error_set (&err, GRPC_INVALID_ARGUMENT,
                      "spec: process.args is empty");
      goto fail;
    }
  if (sb->next_scsi_target >= SCSI_TARGET_MAX)
    {
      shim_error_set (&err, GRPC_RESOURCE_EXHAUSTED,
                      "the UVM has no SCSI target left for another "
                      "container");
      goto fail;
    }
  {
    cleanup_free char *cfg_path = xasprintf ("%s/config.json", t->bundle);
    if (read_file_capped (-1, cfg_path, OCI_SPEC_MAX_BYTES, &config,
                          &config_len, &err)
        < 0)
      goto fail;
  }
  t->scsi_target = ++sb->next_scsi_target;
  struct bridge_create bc = { t->id, t->key, t->scsi_target, config,
                              config_len, files, nfiles };
  t->guest_create = bridge_create_body (&bc);
  if (strlen (t->guest_create) > BRIDGE_MESSAGE_MAX)
    {
      shim_error_set (&err, GRPC_INVALID_ARGUMENT,
                      "the spec and pod files are too large for the guest "
                      "bridge (%u bytes at most)",
                      BRIDGE_MESSAGE_MAX);
      goto fail;
    }
  if (spec->root_path == NULL || spec->root_path[0] == '\0')
    rootfs = xasprintf ("%s/rootfs", t->bundle);
  else if (spec->root_path[0] == '/')
    rootfs = xstrdup (spec->root_path);
  else
    rootfs = xasprintf ("%s/%s", t->bundle, spec->root_path);
  t->image = xasprintf ("%s/rootfs.img", t->bundle);
  struct rootfs_mount *mounts = xzalloc ((req->n_rootfs + 1) * sizeof *mounts);
  for (size_t i = 0; i < req->n_rootfs; i++)
    mounts[i] = (struct rootfs_mount){ req->rootfs[i]->type,
                                       req->rootfs[i]->source,
                                       req->rootfs[i]->options,
                                       req->rootfs[i]->n_options };
  int r = rootfs_image_build (ts->cfg.loop, rootfs, mounts, req->n_rootfs,
                              t->image, on_image_built, t, &t->job, &err);
  free (mounts);
  if (r == 0)
    goto out;
fail:
  /* Nothing is attached yet.  */
  t->scsi_target = 0;
  container_create_failed (t, err);
  shim_error_free (err);
out:
  for (size_t i = 0; i < nfiles; i++)
    free (contents[i]);
  free (contents);
  free (files);
}

/* A task record (a task, or with exec_id an exec'd process of task id),
   not yet in the list.  */
static struct task *
task_new (struct task_service *ts, const char *id, const char *exec_id,
          const char *bundle, const char *stdin_path, const char *stdout_path,
          const char *stderr_path, bool terminal)
{
  struct task *t = xzalloc (sizeof *t);
  t->ts = ts;
  t->id = xstrdup (id);
  t->exec_id = exec_id ? xstrdup (exec_id) : NULL;
  t->bundle = xstrdup (bundle);
  t->stdin_path = xstrdup (stdin_path);
  t->stdout_path = xstrdup (stdout_path);
  t->stderr_path = xstrdup (stderr_path);
  t->terminal = terminal;
  t->status = PB__TASK_STATUS__UNKNOWN;
  t->stdio_fds[0] = t->stdio_fds[1] = t->stdio_fds[2] = -1;
  list_init (&t->link);
  list_init (&t->waiters);
  list_init (&t->deleters);
  return t;
}

static const struct uvm_events uvm_events = {
  .on_started = on_uvm_started,
  .on_exited = on_uvm_exited,
  .on_notify = on_guest_notify,
  .on_stream = on_guest_stream,
  .on_credit = on_guest_credit,
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
                Pb__CreateTaskRequest *req, struct oci_spec **specp,
                const char *sandbox_id, bool standalone)
{
  const struct oci_spec *spec = *specp;
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
  if (standalone)
    {
      sb->standalone_spec = *specp;
      *specp = NULL;
    }

  struct task *t = task_new (ts, req->id, NULL, req->bundle, req->stdin,
                             req->stdout, req->stderr, req->terminal);
  t->is_sandbox = true;
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


/* ---- replies to process requests --------------------------------------- */

/* Decodes a reply for op; fails its call and returns NULL on an error or a
   task gone meanwhile.  */
static struct task *
guest_reply (struct guest_op *op, const char *body, size_t len,
             const shim_error *err, struct bridge_response *resp)
{
  shim_error *derr = NULL;
  *resp = (struct bridge_response){ 0 };
  if (err == NULL && bridge_response_decode (body, len, resp, &derr) < 0)
    err = derr;
  struct task *t = guest_op_task (op);
  if (err != NULL)
    fail_wrapped (op->call, err, "%s: %s",
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
on_guest_started (void *data, const char *body, size_t len,
                  const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  struct task *t = guest_reply (op, body, len, err, &resp);
  if (t != NULL)
    {
      if (!t->exited)
        t->status = PB__TASK_STATUS__RUNNING;
      if (t->exec_id != NULL)
        {
          Pb__TaskExecStarted ev = PB__TASK_EXEC_STARTED__INIT;
          ev.container_id = t->id;
          ev.exec_id = t->exec_id;
          ev.pid = t->pid;
          publish (t->ts, "/tasks/exec-started",
                   "containerd.events.TaskExecStarted", &ev.base);
        }
      else
        {
          Pb__TaskStart ev = PB__TASK_START__INIT;
          ev.container_id = t->id;
          ev.pid = t->pid;
          publish (t->ts, "/tasks/start", "containerd.events.TaskStart",
                   &ev.base);
        }
      Pb__StartResponse sr = PB__START_RESPONSE__INIT;
      sr.pid = t->pid;
      ttrpc_call_reply (op->call, &sr.base);
      bridge_response_release (&resp);
    }
  guest_op_free (op);
}

/* Replies with an empty message (Kill, ResizePty).  */
static void
on_guest_done (void *data, const char *body, size_t len,
               const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  if (guest_reply (op, body, len, err, &resp) != NULL)
    {
      ttrpc_call_reply (op->call, NULL);
      bridge_response_release (&resp);
    }
  guest_op_free (op);
}

static void
on_guest_exec_added (void *data, const char *body, size_t len,
                     const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  struct task *t = find_exec (op->ts, op->id, op->exec_id);
  if (guest_reply (op, body, len, err, &resp) == NULL)
    {
      if (t != NULL)
        drop_exec (t);
      guest_op_free (op);
      return;
    }
  t->creating = false;
  t->pid = resp.pid;
  t->status = PB__TASK_STATUS__CREATED;
  open_relay (t);
  Pb__TaskExecAdded ev = PB__TASK_EXEC_ADDED__INIT;
  ev.container_id = t->id;
  ev.exec_id = t->exec_id;
  publish (t->ts, "/tasks/exec-added", "containerd.events.TaskExecAdded",
           &ev.base);
  ttrpc_call_reply (op->call, NULL);
  bridge_response_release (&resp);
  guest_op_free (op);
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
    reply_metrics (op->call, resp.cpu_ns, resp.memory_bytes,
                   resp.memory_limit, 0, resp.npids);
  bridge_response_release (&resp);
  guest_op_free (op);
}

static void delete_exited_task (struct task *t, struct ttrpc_call *call);

/* Deletes a container's record with its exec'd processes, its disk
   unplugged.  */
static void
delete_container (struct task *t, struct ttrpc_call *call)
{
  if (t->ts->sandbox != NULL && t->scsi_target != 0)
    uvm_detach_disk (t->ts->sandbox->uvm, t->scsi_target);
  t->scsi_target = 0;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &t->ts->tasks)
  {
    struct task *e = list_entry (pos, struct task, link);
    if (e->exec_id != NULL && strcmp (e->id, t->id) == 0)
      drop_exec (e);
  }
  delete_exited_task (t, call);
}

/* The guest let go of the container: unplug its disk, then delete.  */
static void
on_guest_deleted (void *data, const char *body, size_t len,
                  const shim_error *err)
{
  struct guest_op *op = data;
  struct bridge_response resp;
  struct task *t = guest_reply (op, body, len, err, &resp);
  if (t != NULL)
    {
      bridge_response_release (&resp);
      delete_container (t, op->call);
    }
  guest_op_free (op);
}

/* Whether the sandbox's VM is still there to be asked.  */
static bool
vm_running (const struct task_service *ts)
{
  return ts->sandbox != NULL && !ts->sandbox->task->exited;
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
      create_sandbox (ts, call, req, &spec, sandbox_id ? sandbox_id : req->id,
                      type == NULL);
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
        {
          struct task *t
              = task_new (ts, req->id, NULL, req->bundle, req->stdin,
                          req->stdout, req->stderr, req->terminal);
          list_add_tail (&ts->tasks, &t->link);
          ts->ntasks++;
          container_create (t, call, req, spec);
          req = NULL;
        }
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
  if (t != NULL && t->in_guest && t->status == PB__TASK_STATUS__CREATED)
    guest_call (t, call, "start", bridge_start_body (t->key),
                on_guest_started);
  else if (t != NULL)
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
  else if (t->creating)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s is being created", t->id);
  else if (t->in_guest)
    guest_call (t, call, "kill",
                bridge_signal_body (t->key, req->signal, req->all),
                on_guest_done);
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
  reply_delete (t, call);

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
  reply_delete (t, call);
  drop_exec (t);
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
  else if (t->creating)
    ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                          "task %s is being created", t->id);
  else if (t->exec_id != NULL)
    delete_exec (t, call);
  else if (t->in_guest && t->exited && !vm_running (ts))
    delete_container (t, call);
  else if (t->in_guest
           && (t->exited || t->status == PB__TASK_STATUS__CREATED))
    guest_call (t, call, "delete", bridge_container_body ("delete", t->id),
                on_guest_deleted);
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
  if (t != NULL && t->in_guest && !t->exited && !t->creating)
    guest_call (t, call, "pids", bridge_container_body ("stats", t->id),
                on_guest_stats);
  else if (t != NULL)
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
  else if (t->in_guest && !t->exited && !t->creating)
    guest_call (t, call, "stats", bridge_container_body ("stats", t->id),
                on_guest_stats);
  else if (t->exited || uvm_usage (ts->sandbox->uvm, &cpu_ns, &rss) < 0)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: process already finished: not found",
                          t->id);
  else
    reply_metrics (call, cpu_ns, rss,
                   (uint64_t) ts->sandbox->plan.opts.memory_mb * 1024 * 1024,
                   rss, 1);
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
  if (t != NULL && t->in_guest)
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
      else if (!t->in_guest || t->exited || t->creating)
        ttrpc_call_fail_code (call, GRPC_FAILED_PRECONDITION,
                              "task %s has no running process to resize",
                              t->id);
      else
        guest_call (t, call, "resize",
                    bridge_resize_body (t->key, req->width, req->height),
                    on_guest_done);
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
  struct task *c = find_task (ts, req->id);
  if (c == NULL)
    ttrpc_call_fail_code (call, GRPC_NOT_FOUND,
                          "task %s: container not created: not found",
                          req->id);
  else if (!c->in_guest)
    ttrpc_call_fail_code (call, GRPC_UNIMPLEMENTED,
                          "exec %s in %s: a pod sandbox task is the UVM itself "
                          "and has no processes to join",
                          req->exec_id, req->id);
  else if (*req->exec_id == '\0' || find_exec (ts, req->id, req->exec_id))
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
    {
      struct task *e
          = task_new (ts, req->id, req->exec_id, c->bundle, req->stdin,
                      req->stdout, req->stderr, req->terminal);
      e->in_guest = true;
      e->creating = true;
      e->key = ++ts->next_process_key;
      list_add_tail (&ts->tasks, &e->link);
      guest_call (e, call, "exec",
                  bridge_exec_body (req->id, e->key,
                                    (const char *) req->spec->value.data,
                                    req->spec->value.len),
                  on_guest_exec_added);
    }
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
