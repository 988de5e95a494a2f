/* Live migration as the daemon sees it: one state per shim, moved only by
   the events of this table (pure: no I/O), and the rule each Task method
   follows while it is not NONE.  migration_service.c owns the state; the
   rest of the daemon asks it (migration_service.h).  The VM's own phases
   (QMP, the stream, the bridge's handover) are uvm/uvm_migration.h's.

   Source:       NONE --export--> EXPORTING --described--> EXPORTED
                 NONE --await-execs--> AWAITING_EXECS --export--> EXPORTING
                 (an Export that waits for the pod's exec'd processes)
                 EXPORTED --finalize--> HANDING_OVER --handed-over--> MOVED
   Destination:  NONE --created-incoming--> INCOMING --import--> IMPORTING
                 IMPORTING --described--> IMPORTED (containers are adopted
                 here) --prepare--> PREPARED (listening)
                 PREPARED --finalize--> ADOPTING --adopted--> NONE
   Failures:     a call that could not start ("refused") returns to where
                 it was asked (ADOPTING -> PREPARED); one that failed later
                 ("failed"): AWAITING_EXECS, EXPORTING -> NONE, IMPORTING ->
   INCOMING, ADOPTING -> NONE and HANDING_OVER -> MOVED (the VM's state went to
   the destination and the source's VMM quits either way). Cancel:
   AWAITING_EXECS, EXPORTING, EXPORTED -> NONE; INCOMING, IMPORTED, PREPARED ->
   INCOMING (the destination may import again); IMPORTING and ADOPTING stay
   (their call ends on its own); never once HANDING_OVER. Give up (a Kill of
   the sandbox): every migrating state -> NONE, but HANDING_OVER -> MOVED.  */
#ifndef LCOW_DAEMON_MIGRATION_STATE_H
#define LCOW_DAEMON_MIGRATION_STATE_H

#include <stdbool.h>

enum migration_state
{
  MIGRATION_NONE,
  /* Source: Export waits for the pod's exec'd processes to end (they do
     not move); nothing new starts meanwhile.  */
  MIGRATION_AWAITING_EXECS,
  /* Source: Export waits for the VM's description; frozen from here.  */
  MIGRATION_EXPORTING,
  /* Source: exported; Transfer streams the VM, Finalize hands it over.  */
  MIGRATION_EXPORTED,
  /* Source: Finalize waits for the bridge's handover.  */
  MIGRATION_HANDING_OVER,
  /* Source: the VM went on at the destination; its task ends as moved.  */
  MIGRATION_MOVED,
  /* Destination: created to receive a VM; Import is next.  */
  MIGRATION_INCOMING,
  /* Destination: Import waits for our own description.  */
  MIGRATION_IMPORTING,
  /* Destination: the source's containers are adopted by Creates.  */
  MIGRATION_IMPORTED,
  /* Destination: every container adopted, listening for the stream.  */
  MIGRATION_PREPARED,
  /* Destination: Finalize waits for the bridge's adoption.  */
  MIGRATION_ADOPTING,
};

enum migration_event
{
  MIGRATION_EV_EXPORT,
  MIGRATION_EV_AWAIT_EXECS,
  MIGRATION_EV_CREATED_INCOMING,
  MIGRATION_EV_IMPORT,
  MIGRATION_EV_DESCRIBED,
  MIGRATION_EV_PREPARE,
  MIGRATION_EV_FINALIZE,
  MIGRATION_EV_HANDED_OVER,
  MIGRATION_EV_ADOPTED,
  MIGRATION_EV_REFUSED,
  MIGRATION_EV_FAILED,
  MIGRATION_EV_CANCEL,
  MIGRATION_EV_GIVE_UP,
};

#define MIGRATION_STATE_COUNT (MIGRATION_ADOPTING + 1)
#define MIGRATION_EVENT_COUNT (MIGRATION_EV_GIVE_UP + 1)

/* The state event leads to from state, or false (*next untouched).  */
bool migration_state_next (enum migration_state state,
                           enum migration_event event,
                           enum migration_state *next);
const char *migration_state_name (enum migration_state state);
const char *migration_event_name (enum migration_event event);
/* This shim gives the VM away (EXPORTING through HANDING_OVER; while it
   awaits its execs, the pod still runs as before).  */
bool migration_state_source (enum migration_state state);
/* The guest's exit notifications are held (not delivered here): from the
   export on, and after the move (the destination delivers them).  */
bool migration_state_holds_exits (enum migration_state state);

/* What a Task method does while a migration is under way, declared once
   per method beside the Task service's method table.  A destination's
   adopted container (created from a source container, running at the
   source until Finalize) is served only State, Wait, its Start and the
   shim's own calls.  */
enum migration_call_rule
{
  /* Reads, waits, the shim's own lifetime: always served.  */
  MIGRATION_CALL_SERVED,
  /* Served, but they need the guest: refused for an adopted container.  */
  MIGRATION_CALL_SERVED_BUT_ADOPTED,
  /* Anything that would change what moves: refused.  */
  MIGRATION_CALL_REFUSED,
  /* Starts a process (Create, Exec): refused as above, and also while the
     source awaits its exec'd processes.  */
  MIGRATION_CALL_STARTS_PROCESS,
  /* Refused but for the pod sandbox's own task and an adopted container
     (their Start), also while the source awaits its execs.  */
  MIGRATION_CALL_REFUSED_BUT_SANDBOX,
  /* Refused at the source only (a destination that failed is deleted).  */
  MIGRATION_CALL_REFUSED_AT_SOURCE,
};

/* Whom a Task call names.  */
enum migration_subject
{
  MIGRATION_SUBJECT_OTHER,
  MIGRATION_SUBJECT_SANDBOX,
  MIGRATION_SUBJECT_ADOPTED,
};

/* Whether a call under that rule is refused in state, for its subject.  */
bool migration_call_refused (enum migration_call_rule rule,
                             enum migration_state state,
                             enum migration_subject subject);

#endif
