/* Task records, shared by the Task API handlers (task_service.c) and the
   processes they run in the guest (guest_process.c): a task or exec'd
   process, the sandbox, and the replies and events every kind of task
   answers with.  */
#ifndef LCOW_TASK_H
#define LCOW_TASK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "proto/base/error.h"
#include "proto/base/list.h"
#include "migration_state.h"
#include "pod_file_reader.h"
#include "proto/oci_spec.h"
#include "stdio_relay.h"
#include "task.pb-c.h"
#include "task_service.h"
#include "ttrpc_server.h"
#include "uvm/container_rootfs.h"
#include "uvm/uvm.h"

/* What a task record stands for.  */
enum task_kind
{
  /* A pod sandbox's task: the UVM itself (its pid is the VMM's).  */
  TASK_POD_SANDBOX,
  /* A container's init process in the UVM (a standalone task's own process
     too: a task without CRI annotations, with a UVM of its own).  */
  TASK_CONTAINER,
  /* A process exec'd in a container (exec_id names it).  */
  TASK_EXEC,
};

/* This shim's part in a live migration of its sandbox.  */
/* A call answered later (Wait, or Delete of a task still running).  */
struct parked
{
  struct list link;
  struct ttrpc_call *call;
};

struct task
{
  struct list link;
  struct task_service *ts;
  /* Tells this record from a later one with the same id.  */
  uint64_t serial;
  /* A process in the guest: the serial of the sandbox task whose VM runs
     it (a later sandbox's VM never knew it).  */
  uint64_t pod_serial;
  char *id;
  char *bundle;
  char *stdin_path, *stdout_path, *stderr_path;
  bool terminal;
  enum task_kind kind;
  Pb__TaskStatus status;
  uint32_t pid;
  bool exited;
  uint32_t exit_status;
  struct timespec exited_at;
  struct list waiters;
  struct list deleters;
  int stdio_fds[3];
  /* A container or exec'd process being created in the guest.  */
  bool creating;
  char *exec_id;
  uint32_t key;
  struct stdio_relay *relay;
  /* A container's root filesystem: its layers in the VM.  */
  struct container_rootfs *rootfs;
  /* The create chain's call and request (rootfs mounts, stdio).  */
  struct ttrpc_call *create_call;
  Pb__CreateTaskRequest *create_req;
  /* The spec's text and root directory, the pod files being read, and the
     guest create request built from them before the disk is attached.  */
  char *spec_text;
  size_t spec_len;
  char *rootfs_dir;
  struct pod_file_reader *pod_files;
  /* Its volumes, emptyDirs and termination log (pod_volumes.h).  */
  struct pod_volumes *volumes;
  char *guest_create;
  uint32_t exit_status_pending;
  /* The guest reported the exit while the process was being created.  */
  bool exit_parked;
  /* Source of a live migration: the guest reported the exit from the
     export on; held until the migration ends (delivered here when it is
     cancelled, by the destination after the switchover).  */
  bool exit_held;
  /* With it, the termination message the guest reported (for the
     destination's kubelet file); NULL: none.  */
  char *held_message;
  size_t held_message_len;
  /* The id the guest knows the container by: the source's for one adopted
     from a live migration (NULL: id).  */
  char *guest_id;
  /* Of the container's process (migration_process_digest): a migration's
     destination must ask for the same process.  */
  char process_digest[2 * 32 + 1];
  /* Destination of a live migration: created from a source container
     whose process runs at the source until Finalize.  */
  bool adopted;
};

/* A task record (a task, or with exec_id an exec'd process of task id),
   not yet in the list.  */
struct task *task_new (struct task_service *ts, const char *id,
                       const char *exec_id, const char *bundle,
                       const char *stdin_path, const char *stdout_path,
                       const char *stderr_path, bool terminal);
void task_free (struct task *t);
/* The id the guest knows t's container by.  */
const char *task_guest_id (const struct task *t);
/* The task `id` (not an exec'd process), or NULL.  */
struct task *task_find (struct task_service *ts, const char *id);
struct task *task_find_exec (struct task_service *ts, const char *id,
                             const char *exec_id);
/* The process in the guest with bridge key `key` (never 0), or NULL.  */
struct task *task_find_key (struct task_service *ts, uint32_t key);
/* Puts a task record (t->exec_id NULL: counted) or an exec'd process in
   the service's table, and takes it out (task.c owns the table).  */
void task_add (struct task *t);
void task_remove (struct task *t);
/* Forgets an exec'd process record (not counted).  */
void task_drop_exec (struct task *e);

void task_publish (struct task_service *ts, const char *topic,
                   const char *type, const ProtobufCMessage *msg);
void task_exit_time (const struct task *t, Pb__Timestamp *out);
void task_open_stdio (struct task *t);

/* Moves the status forward (CREATED, RUNNING, STOPPED); never back.  */
void task_set_status (struct task *t, Pb__TaskStatus status);
/* The one place a task's exit is recorded: one TaskExit, every waiter
   answered, every parked Delete carried out.  */
void task_exited (struct task *t, uint32_t exit_status);
/* The task's process went on elsewhere (a live migration's source): it
   ends with status 0 and no TaskExit; waiters are answered.  */
void task_moved (struct task *t);
/* TaskCreate (from its Create request) and the Create reply.  */
void task_reply_created (struct task *t, struct ttrpc_call *call,
                         const Pb__CreateTaskRequest *r);
/* RUNNING, TaskStart or TaskExecStarted, and the Start reply.  */
void task_reply_started (struct task *t, struct ttrpc_call *call);
void task_reply_wait (const struct task *t, struct ttrpc_call *call);
void task_reply_delete (const struct task *t, struct ttrpc_call *call);
/* Stats as cgroups v1 Metrics, whatever measured them.  */
void task_reply_metrics (struct ttrpc_call *call, uint64_t cpu_ns,
                         uint64_t memory, uint64_t memory_limit, uint64_t rss,
                         uint64_t npids);
/* TaskDelete and the reply; frees t (and ends the sandbox, for its
   task).  */
void task_delete_exited (struct task *t, struct ttrpc_call *call);
/* Logs and fails call with err's code: fmt takes the id and err's text.  */
void task_fail_call (struct ttrpc_call *call, const shim_error *err,
                     const char *fmt, const char *id);

void task_park (struct list *l, struct ttrpc_call *call);
void task_fail_parked (struct list *l, int code, const char *why);

#endif
