/* The VM's side of a live migration (uvm/uvm_migration.h) as one phase
   and a table of the events that move it (pure: no I/O).  uvm_migration.c
   asks uvm_migration_phase_next for every change and logs it; an event the
   table does not take changes nothing.

   Source:       NONE --export--> BARRIER --barrier-passed--> SENDING
                 SENDING --switched-over--> COMPLETED --hand-over-->
                 HANDING_OVER (the VMM quits, the bridge is read to EOF)
                 BARRIER, SENDING --failed--> NONE (the VM runs on here)
   Destination:  NONE --listen--> LISTENING --connected--> RECEIVING
                 RECEIVING --adopt--> ADOPTING --adopted--> NONE  */
#ifndef LCOW_UVM_MIGRATION_MIGRATION_PHASE_H
#define LCOW_UVM_MIGRATION_MIGRATION_PHASE_H

#include <stdbool.h>

enum uvm_migration_phase
{
  UVM_MIGRATION_NONE,
  /* Source: the ping barrier, then QEMU's transfer, until the switchover;
     then the VMM quits and the bridge is handed over.  */
  UVM_MIGRATION_BARRIER,
  UVM_MIGRATION_SENDING,
  UVM_MIGRATION_COMPLETED,
  UVM_MIGRATION_HANDING_OVER,
  /* Destination: waiting for the source's connection, then its state,
     then the adoption of the bridge.  */
  UVM_MIGRATION_LISTENING,
  UVM_MIGRATION_RECEIVING,
  UVM_MIGRATION_ADOPTING,
};

enum uvm_migration_event
{
  UVM_MIG_EV_EXPORT,
  UVM_MIG_EV_BARRIER_PASSED,
  UVM_MIG_EV_SWITCHED_OVER,
  UVM_MIG_EV_FAILED,
  UVM_MIG_EV_HAND_OVER,
  UVM_MIG_EV_LISTEN,
  UVM_MIG_EV_CONNECTED,
  UVM_MIG_EV_ADOPT,
  UVM_MIG_EV_ADOPTED,
};

#define UVM_MIGRATION_PHASE_COUNT (UVM_MIGRATION_ADOPTING + 1)
#define UVM_MIGRATION_EVENT_COUNT (UVM_MIG_EV_ADOPTED + 1)

/* The phase event leads to from phase, or false (*next untouched).  */
bool uvm_migration_phase_next (enum uvm_migration_phase phase,
                               enum uvm_migration_event event,
                               enum uvm_migration_phase *next);
const char *uvm_migration_phase_name (enum uvm_migration_phase phase);
const char *uvm_migration_event_name (enum uvm_migration_event event);

#endif
