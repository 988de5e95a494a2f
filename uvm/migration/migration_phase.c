/* See migration_phase.h.  */
#include "migration_phase.h"

#include <stddef.h>

#include "proto/base/state_table.h"

static const struct state_transition transitions[] = {
  { UVM_MIGRATION_NONE, UVM_MIG_EV_EXPORT, UVM_MIGRATION_BARRIER },
  { UVM_MIGRATION_BARRIER, UVM_MIG_EV_BARRIER_PASSED, UVM_MIGRATION_SENDING },
  { UVM_MIGRATION_BARRIER, UVM_MIG_EV_FAILED, UVM_MIGRATION_NONE },
  { UVM_MIGRATION_SENDING, UVM_MIG_EV_SWITCHED_OVER, UVM_MIGRATION_COMPLETED },
  { UVM_MIGRATION_SENDING, UVM_MIG_EV_FAILED, UVM_MIGRATION_NONE },
  { UVM_MIGRATION_COMPLETED, UVM_MIG_EV_HAND_OVER,
    UVM_MIGRATION_HANDING_OVER },
  { UVM_MIGRATION_NONE, UVM_MIG_EV_LISTEN, UVM_MIGRATION_LISTENING },
  { UVM_MIGRATION_LISTENING, UVM_MIG_EV_CONNECTED, UVM_MIGRATION_RECEIVING },
  { UVM_MIGRATION_RECEIVING, UVM_MIG_EV_ADOPT, UVM_MIGRATION_ADOPTING },
  { UVM_MIGRATION_ADOPTING, UVM_MIG_EV_ADOPTED, UVM_MIGRATION_NONE },
};

bool
uvm_migration_phase_next (enum uvm_migration_phase phase,
                          enum uvm_migration_event event,
                          enum uvm_migration_phase *next)
{
  int to;
  if (!state_table_next (transitions, sizeof transitions / sizeof *transitions,
                         (int) phase, (int) event, &to))
    return false;
  *next = (enum uvm_migration_phase) to;
  return true;
}

const char *
uvm_migration_phase_name (enum uvm_migration_phase phase)
{
  static const char *const names[UVM_MIGRATION_PHASE_COUNT] = {
    [UVM_MIGRATION_NONE] = "none",
    [UVM_MIGRATION_BARRIER] = "barrier",
    [UVM_MIGRATION_SENDING] = "sending",
    [UVM_MIGRATION_COMPLETED] = "completed",
    [UVM_MIGRATION_HANDING_OVER] = "handing-over",
    [UVM_MIGRATION_LISTENING] = "listening",
    [UVM_MIGRATION_RECEIVING] = "receiving",
    [UVM_MIGRATION_ADOPTING] = "adopting",
  };
  return (unsigned) phase < UVM_MIGRATION_PHASE_COUNT ? names[phase] : "?";
}

const char *
uvm_migration_event_name (enum uvm_migration_event event)
{
  static const char *const names[UVM_MIGRATION_EVENT_COUNT] = {
    [UVM_MIG_EV_EXPORT] = "export",
    [UVM_MIG_EV_BARRIER_PASSED] = "barrier-passed",
    [UVM_MIG_EV_SWITCHED_OVER] = "switched-over",
    [UVM_MIG_EV_FAILED] = "failed",
    [UVM_MIG_EV_HAND_OVER] = "hand-over",
    [UVM_MIG_EV_LISTEN] = "listen",
    [UVM_MIG_EV_CONNECTED] = "connected",
    [UVM_MIG_EV_ADOPT] = "adopt",
    [UVM_MIG_EV_ADOPTED] = "adopted",
  };
  return (unsigned) event < UVM_MIGRATION_EVENT_COUNT ? names[event] : "?";
}
