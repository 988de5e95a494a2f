/* The containerd Task API (registered as containerd.task.v2.Task and
   containerd.task.v3.Task): task records, their state machine, waiters and
   events.  A task creates the sandbox (its pid is the VMM's) or joins it.  */
#ifndef LCOW_TASK_SERVICE_H
#define LCOW_TASK_SERVICE_H

#include <stdbool.h>
#include <uv.h>

#include "event_publisher.h"
#include "ttrpc_server.h"

struct task_service;

struct task_service_config
{
  uv_loop_t *loop;
  const char *ns;
  /* The shim executable (the VMM helper runs through it).  */
  const char *self_exe;
  /* Root of the per-sandbox runtime directories.  */
  const char *state_root;
  struct event_publisher *events;
  /* Called once Shutdown found no task left.  */
  void (*on_shutdown) (void *data);
  void *data;
};

struct task_service *task_service_new (const struct task_service_config *c);
void task_service_register (struct task_service *ts, struct ttrpc_server *s);
/* Fails parked calls, stops the UVM, frees the service; done is called
   once every handle is closed.  */
void task_service_close (struct task_service *ts);
/* No sandbox and no task (nothing was created, or all was deleted).  */
bool task_service_is_empty (const struct task_service *ts);
/* The per-sandbox runtime directory for (namespace, id).  */
char *task_service_state_dir (const char *state_root, const char *ns,
                              const char *id);

#endif
