/* The task service's record: private to service_record.c, one part per
   owner, each reached through its accessor.  The lowest file of the Task
   service: the others call it, it calls none of them.
     config      set at task_service_new, read by all
     tasks       task.c: the task records, their count, serial numbers
     guest       guest_process.c: requests to the guest, process keys
     migration   migration_service.c (migration_state.h)
     sandbox     sandbox.c (sandbox_record.c answers for it)
     closing     task_service.c  */
#ifndef LCOW_DAEMON_SERVICE_RECORD_H
#define LCOW_DAEMON_SERVICE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "migration_containers.h"
#include "migration_state.h"
#include "proto/base/list.h"
#include "task_service.h"

struct sandbox;
struct migration_op;
struct migration_deadline;

struct task_table
{
  /* struct task records (task.h), in creation order.  */
  struct list list;
  /* Tasks, not counting exec'd processes.  */
  size_t count;
  uint64_t next_serial;
};

struct guest_table
{
  /* Requests to the guest waiting for its reply.  */
  struct list ops;
  uint32_t next_process_key;
};

struct migration_part
{
  enum migration_state state;
  /* The migration call waiting for the VM.  */
  struct migration_op *op;
  /* Destination: the source's containers, adopted by Creates.  */
  struct migrating_set incoming;
  /* Between Export or Import and the transfer: the orchestrator's time.  */
  struct migration_deadline *deadline;
  /* Source: an Export awaiting the pod's exec'd processes.  */
  struct migration_deadline *exec_wait;
  /* Source, moved: its Finalize answer (packed), for an orchestrator that
     asks again.  */
  ProtobufCBinaryData handover_reply;
};

struct task_service *service_record_new (const struct task_service_config *c);
void service_record_free (struct task_service *ts);

const struct task_service_config *
service_config (const struct task_service *ts);
/* The parts, as their owners change them (ts is const for readers).  */
struct task_table *service_tasks (const struct task_service *ts);
struct guest_table *service_guest (const struct task_service *ts);
struct migration_part *service_migration (const struct task_service *ts);
/* NULL when there is none (none yet, or it ended).  */
struct sandbox *service_sandbox (const struct task_service *ts);
void service_set_sandbox (struct task_service *ts, struct sandbox *sb);
bool service_closing (const struct task_service *ts);
void service_set_closing (struct task_service *ts);

#endif
