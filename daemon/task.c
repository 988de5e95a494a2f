#include "task.h"
#include "service_record.h"
#include "pod_volumes.h"

#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.pb-c.h"
#include "metrics.pb-c.h"
#include "proto/base/log.h"
#include "proto/pb_pack.h"
#include "proto/base/xalloc.h"
#include "proto/base/sha256.h"
#include "sandbox.h"

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

struct task *
task_find (struct task_service *ts, const char *id)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (strcmp (t->id, id) == 0 && t->exec_id == NULL)
      return t;
  }
  return NULL;
}

struct task *
task_find_exec (struct task_service *ts, const char *id, const char *exec_id)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (t->exec_id != NULL && strcmp (t->id, id) == 0
        && strcmp (t->exec_id, exec_id) == 0)
      return t;
  }
  return NULL;
}

struct task *
task_find_key (struct task_service *ts, uint32_t key)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    if (key != 0 && t->key == key)
      return t;
  }
  return NULL;
}

void
task_exit_time (const struct task *t, Pb__Timestamp *out)
{
  out->seconds = t->exited_at.tv_sec;
  out->nanos = (int32_t) t->exited_at.tv_nsec;
}

void
task_publish (struct task_service *ts, const char *topic, const char *type,
              const ProtobufCMessage *msg)
{
  event_publisher_publish (service_config (ts)->events, topic, type, msg);
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
void
task_open_stdio (struct task *t)
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

/* A task record (a task, or with exec_id an exec'd process of task id),
   not yet in the list.  */
struct task *
task_new (struct task_service *ts, const char *id, const char *exec_id,
          const char *bundle, const char *stdin_path, const char *stdout_path,
          const char *stderr_path, bool terminal)
{
  struct task *t = xzalloc (sizeof *t);
  t->ts = ts;
  t->serial = ++service_tasks (ts)->next_serial;
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

const char *
task_guest_id (const struct task *t)
{
  return t->guest_id != NULL ? t->guest_id : t->id;
}

void
task_free (struct task *t)
{
  /* Calls still waiting on the record are answered: every call completes
     once.  */
  if (t->create_call != NULL)
    ttrpc_call_fail_code (t->create_call, GRPC_UNAVAILABLE,
                          "create %s: abandoned: the shim is shutting down",
                          t->id);
  task_fail_parked (&t->waiters, GRPC_NOT_FOUND, "task deleted");
  task_fail_parked (&t->deleters, GRPC_NOT_FOUND, "task deleted");
  if (t->key != 0 && sandbox_uvm (t->ts) != NULL)
    uvm_close_streams (sandbox_uvm (t->ts), t->key);
  close_stdio (t);
  stdio_relay_close (t->relay);
  container_rootfs_release (t->rootfs);
  pod_file_reader_cancel (t->pod_files);
  pod_volumes_free (t->volumes);
  free (t->spec_text);
  free (t->held_message);
  free (t->rootfs_dir);
  free (t->exec_id);
  free (t->guest_create);
  free (t->guest_id);
  if (t->create_req != NULL)
    pb__create_task_request__free_unpacked (t->create_req, NULL);
  free (t->id);
  free (t->bundle);
  free (t->stdin_path);
  free (t->stdout_path);
  free (t->stderr_path);
  free (t);
}

void
task_reply_wait (const struct task *t, struct ttrpc_call *call)
{
  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  task_exit_time (t, &ts);
  Pb__WaitResponse resp = PB__WAIT_RESPONSE__INIT;
  resp.exit_status = t->exit_status;
  resp.exited_at = &ts;
  ttrpc_call_reply (call, &resp.base);
}

void
task_reply_delete (const struct task *t, struct ttrpc_call *call)
{
  Pb__Timestamp stamp = PB__TIMESTAMP__INIT;
  task_exit_time (t, &stamp);
  Pb__DeleteResponse resp = PB__DELETE_RESPONSE__INIT;
  resp.pid = t->pid;
  resp.exit_status = t->exit_status;
  resp.exited_at = &stamp;
  ttrpc_call_reply (call, &resp.base);
}

/* Stats as cgroups v1 Metrics, whatever measured them.  */
void
task_reply_metrics (struct ttrpc_call *call, uint64_t cpu_ns, uint64_t memory,
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
void
task_reply_created (struct task *t, struct ttrpc_call *call,
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
  task_publish (t->ts, "/tasks/create", "containerd.events.TaskCreate",
                &ev.base);
  Pb__CreateTaskResponse resp = PB__CREATE_TASK_RESPONSE__INIT;
  resp.pid = t->pid;
  ttrpc_call_reply (call, &resp.base);
}

/* UNKNOWN, CREATED, RUNNING, STOPPED: the order a task goes through.  */
static int
status_rank (Pb__TaskStatus s)
{
  switch (s)
    {
    case PB__TASK_STATUS__CREATED:
      return 1;
    case PB__TASK_STATUS__RUNNING:
      return 2;
    case PB__TASK_STATUS__STOPPED:
      return 3;
    default:
      return 0;
    }
}

void
task_set_status (struct task *t, Pb__TaskStatus status)
{
  if (status_rank (status) > status_rank (t->status))
    t->status = status;
}

void
task_reply_started (struct task *t, struct ttrpc_call *call)
{
  task_set_status (t, PB__TASK_STATUS__RUNNING);
  /* The event is queued before the reply, and so before any exit.  */
  if (t->exec_id != NULL)
    {
      Pb__TaskExecStarted ev = PB__TASK_EXEC_STARTED__INIT;
      ev.container_id = t->id;
      ev.exec_id = t->exec_id;
      ev.pid = t->pid;
      task_publish (t->ts, "/tasks/exec-started",
                    "containerd.events.TaskExecStarted", &ev.base);
    }
  else
    {
      Pb__TaskStart ev = PB__TASK_START__INIT;
      ev.container_id = t->id;
      ev.pid = t->pid;
      task_publish (t->ts, "/tasks/start", "containerd.events.TaskStart",
                    &ev.base);
    }
  Pb__StartResponse resp = PB__START_RESPONSE__INIT;
  resp.pid = t->pid;
  ttrpc_call_reply (call, &resp.base);
}

/* The one place a task's end is recorded: its status, one TaskExit
   (unless it moved), every waiter.  */
static void
record_end (struct task *t, uint32_t exit_status, bool publish)
{
  if (t->exited)
    return;
  t->exited = true;
  task_set_status (t, PB__TASK_STATUS__STOPPED);
  t->exit_status = exit_status;
  clock_gettime (CLOCK_REALTIME, &t->exited_at);
  close_stdio (t);

  Pb__Timestamp ts = PB__TIMESTAMP__INIT;
  task_exit_time (t, &ts);
  stdio_relay_close (t->relay);
  t->relay = NULL;
  Pb__TaskExit ev = PB__TASK_EXIT__INIT;
  ev.container_id = t->id;
  ev.id = t->exec_id ? t->exec_id : t->id;
  ev.pid = t->pid;
  ev.exit_status = exit_status;
  ev.exited_at = &ts;
  if (publish)
    task_publish (t->ts, "/tasks/exit", "containerd.events.TaskExit",
                  &ev.base);
  char status[16];
  snprintf (status, sizeof status, "%u", exit_status);
  log_entry (LOG_LEVEL_INFO, publish ? "task exited" : "task moved away",
             (struct log_field[]){ { "task", t->id },
                                   { "exec", t->exec_id ? t->exec_id : "" },
                                   { "status", status } },
             3);

  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &t->waiters)
  {
    struct parked *p = list_entry (pos, struct parked, link);
    list_remove (pos);
    task_reply_wait (t, p->call);
    free (p);
  }
  /* The first parked Delete deletes the task (and frees it: task_free
     answers any other).  */
  if (!list_empty (&t->deleters) && task_find (t->ts, t->id) == t)
    {
      struct parked *p = list_entry (t->deleters.next, struct parked, link);
      list_remove (&p->link);
      struct ttrpc_call *call = p->call;
      free (p);
      task_delete_exited (t, call);
      return;
    }
  task_fail_parked (&t->deleters, GRPC_NOT_FOUND, "task not found");
}

void
task_exited (struct task *t, uint32_t exit_status)
{
  record_end (t, exit_status, true);
}

void
task_moved (struct task *t)
{
  record_end (t, 0, false);
}

void
task_fail_parked (struct list *l, int code, const char *why)
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

void
task_park (struct list *l, struct ttrpc_call *call)
{
  struct parked *p = xzalloc (sizeof *p);
  p->call = call;
  list_add_tail (l, &p->link);
}

/* Forgets an exec'd process record (not counted in ntasks).  */
void
task_add (struct task *t)
{
  struct task_table *table = service_tasks (t->ts);
  list_add_tail (&table->list, &t->link);
  if (t->exec_id == NULL)
    table->count++;
}

void
task_remove (struct task *t)
{
  list_remove (&t->link);
  if (t->exec_id == NULL)
    service_tasks (t->ts)->count--;
}

void
task_drop_exec (struct task *e)
{
  task_remove (e);
  task_free (e);
}

void
task_delete_exited (struct task *t, struct ttrpc_call *call)
{
  struct task_service *ts = t->ts;
  Pb__Timestamp stamp = PB__TIMESTAMP__INIT;
  task_exit_time (t, &stamp);
  Pb__TaskDelete ev = PB__TASK_DELETE__INIT;
  ev.container_id = t->id;
  ev.id = t->id;
  ev.pid = t->pid;
  ev.exit_status = t->exit_status;
  ev.exited_at = &stamp;
  task_publish (ts, "/tasks/delete", "containerd.events.TaskDelete", &ev.base);
  task_reply_delete (t, call);

  task_remove (t);
  log_entry (LOG_LEVEL_INFO, "task deleted",
             (struct log_field[]){ { "task", t->id } }, 1);
  if (sandbox_task (ts) == t)
    sandbox_end (ts);
  task_free (t);
}

void
task_fail_call (struct ttrpc_call *call, const shim_error *err,
                const char *fmt, const char *id)
{
  shim_error e = { err->code, xasprintf (fmt, id, err->msg) };
  log_error ("%s", e.msg);
  ttrpc_call_fail (call, &e);
  free (e.msg);
}
