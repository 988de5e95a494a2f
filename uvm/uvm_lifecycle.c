/* See uvm_lifecycle.h.  */
#include "uvm_lifecycle.h"

#include <stddef.h>

#include "proto/base/state_table.h"

static const struct state_transition transitions[] = {
  { UVM_BOOTING, UVM_EV_HELLO, UVM_RUNNING },
  { UVM_BOOTING, UVM_EV_ATTEMPT_FAILED, UVM_RELAUNCHING },
  { UVM_BOOTING, UVM_EV_START_FAILED, UVM_START_FAILED },
  { UVM_BOOTING, UVM_EV_INCOMING, UVM_MIGRATING_IN },
  { UVM_RELAUNCHING, UVM_EV_VMM_EXITED, UVM_BOOTING },
  { UVM_RELAUNCHING, UVM_EV_START_FAILED, UVM_START_FAILED },
  /* The VMM killed for a failed start exits in its own time.  */
  { UVM_START_FAILED, UVM_EV_VMM_EXITED, UVM_START_FAILED },
  { UVM_RUNNING, UVM_EV_VMM_EXITED, UVM_STOPPED },
  { UVM_RUNNING, UVM_EV_PAUSE, UVM_PAUSED },
  { UVM_RUNNING, UVM_EV_MIGRATE_OUT, UVM_MIGRATING_OUT },
  { UVM_PAUSED, UVM_EV_RESUME, UVM_RUNNING },
  { UVM_PAUSED, UVM_EV_MIGRATE_OUT, UVM_MIGRATING_OUT },
  { UVM_PAUSED, UVM_EV_VMM_EXITED, UVM_STOPPED },
  { UVM_MIGRATING_OUT, UVM_EV_MIGRATION_FAILED, UVM_RUNNING },
  { UVM_MIGRATING_OUT, UVM_EV_VMM_EXITED, UVM_STOPPED },
  { UVM_MIGRATING_IN, UVM_EV_MIGRATED_IN, UVM_RUNNING },
  /* The destination's VMM gone before the VM ran there.  */
  { UVM_MIGRATING_IN, UVM_EV_VMM_EXITED, UVM_STOPPED },
  { UVM_STOPPED, UVM_EV_EXIT_REPORTED, UVM_EXITED },
};

bool
uvm_lifecycle_next (enum uvm_state state, enum uvm_event event,
                    enum uvm_state *next)
{
  if (event == UVM_EV_DESTROY)
    {
      if (state == UVM_DESTROYED)
        return false;
      *next = UVM_DESTROYED;
      return true;
    }
  int to;
  if (!state_table_next (transitions, sizeof transitions / sizeof *transitions,
                         (int) state, (int) event, &to))
    return false;
  *next = (enum uvm_state) to;
  return true;
}

const char *
uvm_state_name (enum uvm_state state)
{
  static const char *const names[UVM_STATE_COUNT] = {
    [UVM_BOOTING] = "booting",
    [UVM_RELAUNCHING] = "relaunching",
    [UVM_START_FAILED] = "start-failed",
    [UVM_RUNNING] = "running",
    [UVM_PAUSED] = "paused",
    [UVM_MIGRATING_OUT] = "migrating-out",
    [UVM_MIGRATING_IN] = "migrating-in",
    [UVM_STOPPED] = "stopped",
    [UVM_EXITED] = "exited",
    [UVM_DESTROYED] = "destroyed",
  };
  return (unsigned) state < UVM_STATE_COUNT ? names[state] : "?";
}

const char *
uvm_event_name (enum uvm_event event)
{
  static const char *const names[UVM_EVENT_COUNT] = {
    [UVM_EV_HELLO] = "hello",
    [UVM_EV_ATTEMPT_FAILED] = "attempt-failed",
    [UVM_EV_START_FAILED] = "start-failed",
    [UVM_EV_VMM_EXITED] = "vmm-exited",
    [UVM_EV_EXIT_REPORTED] = "exit-reported",
    [UVM_EV_PAUSE] = "pause",
    [UVM_EV_RESUME] = "resume",
    [UVM_EV_MIGRATE_OUT] = "migrate-out",
    [UVM_EV_MIGRATION_FAILED] = "migration-failed",
    [UVM_EV_INCOMING] = "incoming",
    [UVM_EV_MIGRATED_IN] = "migrated-in",
    [UVM_EV_DESTROY] = "destroy",
  };
  return (unsigned) event < UVM_EVENT_COUNT ? names[event] : "?";
}

bool
uvm_state_start_reported (enum uvm_state state)
{
  return state != UVM_BOOTING && state != UVM_RELAUNCHING
         && state != UVM_MIGRATING_IN;
}

bool
uvm_state_started (enum uvm_state state)
{
  switch (state)
    {
    case UVM_RUNNING:
    case UVM_PAUSED:
    case UVM_MIGRATING_OUT:
    case UVM_STOPPED:
    case UVM_EXITED:
      return true;
    default:
      return false;
    }
}
