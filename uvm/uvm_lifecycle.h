/* The UVM's life as one state and a table of the events that move it
   (pure: no I/O).  uvm.c asks uvm_lifecycle_next for every change and logs
   it; an event the table does not allow in the current state is refused
   and changes nothing.

     BOOTING --hello--> RUNNING --vmm-exited--> STOPPED --exit-reported-->
   EXITED BOOTING --attempt-failed--> RELAUNCHING --vmm-exited--> BOOTING
     BOOTING, RELAUNCHING --start-failed--> START_FAILED
     RUNNING --pause--> PAUSED --resume--> RUNNING
     RUNNING, PAUSED --migrate-out--> MIGRATING_OUT
     MIGRATING_OUT --migration-failed--> RUNNING, --vmm-exited--> STOPPED
     BOOTING --incoming--> MIGRATING_IN --migrated-in--> RUNNING,
   --vmm-exited--> STOPPED
     any state but DESTROYED --destroy--> DESTROYED

   PAUSED is not used yet (Pause answers Unimplemented); the MIGRATING
   states are live migration's (uvm_migration.h).  */
#ifndef LCOW_UVM_UVM_LIFECYCLE_H
#define LCOW_UVM_UVM_LIFECYCLE_H

#include <stdbool.h>

enum uvm_state
{
  /* An attempt's VMM runs; the guest agent has not said hello.  */
  UVM_BOOTING,
  /* That attempt is being killed; the next one starts when it exits.  */
  UVM_RELAUNCHING,
  /* The start failed and was reported; the VMM is being killed.  */
  UVM_START_FAILED,
  /* The agent said hello and the start was reported.  */
  UVM_RUNNING,
  /* The vCPUs are stopped (live migration).  */
  UVM_PAUSED,
  /* The VM's state streams to another host.  */
  UVM_MIGRATING_OUT,
  /* The VMM waits for a VM's state from another host.  */
  UVM_MIGRATING_IN,
  /* The VMM exited after the start; the guest log drains.  */
  UVM_STOPPED,
  /* The exit was reported.  */
  UVM_EXITED,
  /* uvm_destroy: handles closing, no callback any more.  */
  UVM_DESTROYED,
};

enum uvm_event
{
  UVM_EV_HELLO,
  UVM_EV_ATTEMPT_FAILED,
  UVM_EV_START_FAILED,
  UVM_EV_VMM_EXITED,
  UVM_EV_EXIT_REPORTED,
  UVM_EV_PAUSE,
  UVM_EV_RESUME,
  UVM_EV_MIGRATE_OUT,
  UVM_EV_MIGRATION_FAILED,
  UVM_EV_INCOMING,
  UVM_EV_MIGRATED_IN,
  UVM_EV_DESTROY,
};

#define UVM_STATE_COUNT (UVM_DESTROYED + 1)
#define UVM_EVENT_COUNT (UVM_EV_DESTROY + 1)

/* The state event leads to from state, or false (*next untouched) when the
   table has no such transition.  */
bool uvm_lifecycle_next (enum uvm_state state, enum uvm_event event,
                         enum uvm_state *next);
const char *uvm_state_name (enum uvm_state state);
const char *uvm_event_name (enum uvm_event event);
/* The start was reported (either way): no boot attempt is under way.  */
bool uvm_state_start_reported (enum uvm_state state);
/* The guest ran with its agent connected (RUNNING through EXITED).  */
bool uvm_state_started (enum uvm_state state);

#endif
