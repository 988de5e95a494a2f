/* What the rest of the daemon asks of the sandbox (sandbox.h): its state
   table (pure), its accessors, and sandbox_end, which reaches sandbox.c
   through the record so that the files below sandbox.c never call it.  */
#include "sandbox.h"
#include "service_record.h"
#include "sandbox_private.h"

#include "task.h"

/* ---- lifecycle ---------------------------------------------------------- */

bool
sandbox_state_next (enum sandbox_state state, enum sandbox_event event,
                    enum sandbox_state *next)
{
  enum sandbox_state to;
  if (event == SANDBOX_EV_END && state != SANDBOX_ENDED)
    to = SANDBOX_ENDED;
  else if (event == SANDBOX_EV_UVM_STARTED && state == SANDBOX_CREATING)
    to = SANDBOX_READY;
  else if (event == SANDBOX_EV_UVM_EXITED && state == SANDBOX_READY)
    to = SANDBOX_STOPPED;
  else
    return false;
  *next = to;
  return true;
}

const char *
sandbox_state_name (enum sandbox_state state)
{
  switch (state)
    {
    case SANDBOX_CREATING:
      return "creating";
    case SANDBOX_READY:
      return "ready";
    case SANDBOX_STOPPED:
      return "stopped";
    case SANDBOX_ENDED:
      return "ended";
    }
  return "?";
}

/* ---- accessors ---------------------------------------------------------- */

const char *
sandbox_id (const struct task_service *ts)
{
  return service_sandbox (ts) ? service_sandbox (ts)->id : NULL;
}

const char *
sandbox_pod_hostname (const struct task_service *ts)
{
  return service_sandbox (ts) ? service_sandbox (ts)->hostname : NULL;
}

struct port_forward *
sandbox_port_forward (const struct task_service *ts)
{
  return service_sandbox (ts) ? service_sandbox (ts)->port_forward : NULL;
}

const char *const *
sandbox_pod_sysctls (const struct task_service *ts, size_t *n)
{
  const struct sandbox *sb = service_sandbox (ts);
  *n = sb ? sb->nsysctls : 0;
  return sb ? (const char *const *) sb->sysctls : NULL;
}

struct task *
sandbox_task (const struct task_service *ts)
{
  return service_sandbox (ts) ? service_sandbox (ts)->task : NULL;
}

struct layer_set *
sandbox_layers (const struct task_service *ts)
{
  return service_sandbox (ts) ? service_sandbox (ts)->layers : NULL;
}

struct uvm *
sandbox_uvm (const struct task_service *ts)
{
  return service_sandbox (ts) ? service_sandbox (ts)->uvm : NULL;
}

bool
sandbox_ready (const struct task_service *ts)
{
  return service_sandbox (ts) != NULL
         && service_sandbox (ts)->state == SANDBOX_READY;
}

bool
sandbox_migratable (const struct task_service *ts)
{
  return service_sandbox (ts) != NULL && service_sandbox (ts)->plan.migratable;
}

bool
sandbox_host_share (const struct task_service *ts)
{
  return service_sandbox (ts) != NULL && service_sandbox (ts)->plan.host_share;
}

uint64_t
sandbox_memory_bytes (const struct task_service *ts)
{
  return service_sandbox (ts)
             ? service_sandbox (ts)->plan.opts.memory_mb * 1024 * 1024
             : 0;
}

const struct shim_config *
sandbox_config (const struct task_service *ts)
{
  return service_sandbox (ts) ? &service_sandbox (ts)->plan.cfg : NULL;
}

void
sandbox_end (struct task_service *ts)
{
  if (service_sandbox (ts) != NULL)
    service_sandbox (ts)->end (ts);
}
