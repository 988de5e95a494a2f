/* The pod sandbox: the one owner of its life.  It is created by the first
   task's Create (its plan, then its UVM), becomes ready when the UVM is up,
   stops when the UVM exits, and ends (UVM destroyed, record freed) in
   sandbox_end only.  Everything else reaches it through the task service
   with the accessors below, which answer "gone" (NULL, false) once it has
   ended: a callback that outlives the sandbox finds nothing to touch.

     CREATING --uvm-started--> READY --uvm-exited--> STOPPED
     any --end--> (freed)  */
#ifndef LCOW_DAEMON_SANDBOX_H
#define LCOW_DAEMON_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/oci_spec.h"
#include "task.pb-c.h"
#include "ttrpc_server.h"

struct task;
struct task_service;
struct uvm;

enum sandbox_state
{
  /* The UVM boots; the Create call waits for it.  */
  SANDBOX_CREATING,
  /* The UVM runs: containers may join.  */
  SANDBOX_READY,
  /* The UVM exited; the sandbox task's exit was reported.  */
  SANDBOX_STOPPED,
  SANDBOX_ENDED,
};

enum sandbox_event
{
  SANDBOX_EV_UVM_STARTED,
  SANDBOX_EV_UVM_EXITED,
  SANDBOX_EV_END,
};

/* Pure: the state event leads to, or false when state does not take it.  */
bool sandbox_state_next (enum sandbox_state state, enum sandbox_event event,
                         enum sandbox_state *next);
const char *sandbox_state_name (enum sandbox_state state);

/* Create for a sandbox task (standalone: a task without CRI annotations,
   whose own process runs in the UVM; *specp is taken then).  Takes req;
   answers call when the UVM is up, or fails it.  */
void sandbox_create (struct task_service *ts, struct ttrpc_call *call,
                     Pb__CreateTaskRequest *req, struct oci_spec **specp,
                     const char *sandbox_id, bool standalone);
/* The one place a sandbox ends: its UVM destroyed, its record freed, the
   service left without one.  The sandbox task is the caller's.  */
void sandbox_end (struct task_service *ts);

/* NULL when the service has no sandbox (none yet, or it ended).  */
const char *sandbox_id (const struct task_service *ts);
/* A pod sandbox's hostname (its spec's), or NULL.  */
const char *sandbox_pod_hostname (const struct task_service *ts);
/* The pod's PortForward relay, or NULL.  */
struct port_forward *sandbox_port_forward (const struct task_service *ts);
/* A pod sandbox's sysctls as KEY=VALUE (*n of them), for the pod's
   namespaces.  */
const char *const *sandbox_pod_sysctls (const struct task_service *ts,
                                        size_t *n);
struct task *sandbox_task (const struct task_service *ts);
struct uvm *sandbox_uvm (const struct task_service *ts);
/* The layer images of its VM (uvm/layer_set.h), or NULL.  */
struct layer_set *sandbox_layers (const struct task_service *ts);
/* The sandbox is READY: its VM runs and can be asked.  */
bool sandbox_ready (const struct task_service *ts);
bool sandbox_migratable (const struct task_service *ts);
/* Its VM has a host directory share (uvm/host_share.h).  */
bool sandbox_host_share (const struct task_service *ts);
/* The UVM's memory, for the sandbox task's Stats.  */
uint64_t sandbox_memory_bytes (const struct task_service *ts);
/* The shim configuration the sandbox was planned with.  */
const struct shim_config *sandbox_config (const struct task_service *ts);

#endif
