/* See migration_state.h.  */
#include "migration_state.h"

#include <stddef.h>

#include "proto/base/state_table.h"

static const struct state_transition transitions[] = {
  { MIGRATION_NONE, MIGRATION_EV_EXPORT, MIGRATION_EXPORTING },
  { MIGRATION_NONE, MIGRATION_EV_AWAIT_EXECS, MIGRATION_AWAITING_EXECS },
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_EXPORT, MIGRATION_EXPORTING },
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_FAILED, MIGRATION_NONE },
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_CANCEL, MIGRATION_NONE },
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_DESCRIBED, MIGRATION_EXPORTED },
  { MIGRATION_EXPORTING, MIGRATION_EV_REFUSED, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_FAILED, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_CANCEL, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_EXPORTED, MIGRATION_EV_FINALIZE, MIGRATION_HANDING_OVER },
  { MIGRATION_EXPORTED, MIGRATION_EV_CANCEL, MIGRATION_NONE },
  { MIGRATION_EXPORTED, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_HANDED_OVER, MIGRATION_MOVED },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_REFUSED, MIGRATION_EXPORTED },
  /* Past the switchover the VM is the destination's whatever happens.  */
  { MIGRATION_HANDING_OVER, MIGRATION_EV_FAILED, MIGRATION_MOVED },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_GIVE_UP, MIGRATION_MOVED },
  { MIGRATION_NONE, MIGRATION_EV_CREATED_INCOMING, MIGRATION_INCOMING },
  { MIGRATION_INCOMING, MIGRATION_EV_IMPORT, MIGRATION_IMPORTING },
  { MIGRATION_INCOMING, MIGRATION_EV_CANCEL, MIGRATION_INCOMING },
  { MIGRATION_INCOMING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_IMPORTING, MIGRATION_EV_DESCRIBED, MIGRATION_IMPORTED },
  { MIGRATION_IMPORTING, MIGRATION_EV_REFUSED, MIGRATION_INCOMING },
  { MIGRATION_IMPORTING, MIGRATION_EV_FAILED, MIGRATION_INCOMING },
  { MIGRATION_IMPORTING, MIGRATION_EV_CANCEL, MIGRATION_IMPORTING },
  { MIGRATION_IMPORTING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_IMPORTED, MIGRATION_EV_PREPARE, MIGRATION_PREPARED },
  { MIGRATION_IMPORTED, MIGRATION_EV_CANCEL, MIGRATION_INCOMING },
  { MIGRATION_IMPORTED, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_PREPARED, MIGRATION_EV_FINALIZE, MIGRATION_ADOPTING },
  { MIGRATION_PREPARED, MIGRATION_EV_CANCEL, MIGRATION_INCOMING },
  { MIGRATION_PREPARED, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_ADOPTING, MIGRATION_EV_ADOPTED, MIGRATION_NONE },
  { MIGRATION_ADOPTING, MIGRATION_EV_REFUSED, MIGRATION_PREPARED },
  { MIGRATION_ADOPTING, MIGRATION_EV_FAILED, MIGRATION_NONE },
  { MIGRATION_ADOPTING, MIGRATION_EV_CANCEL, MIGRATION_ADOPTING },
  { MIGRATION_ADOPTING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
};

bool
migration_state_next (enum migration_state state, enum migration_event event,
                      enum migration_state *next)
{
  int to;
  if (!state_table_next (transitions, sizeof transitions / sizeof *transitions,
                         (int) state, (int) event, &to))
    return false;
  *next = (enum migration_state) to;
  return true;
}

const char *
migration_state_name (enum migration_state state)
{
  static const char *const names[MIGRATION_STATE_COUNT] = {
    [MIGRATION_NONE] = "none",
    [MIGRATION_AWAITING_EXECS] = "awaiting-execs",
    [MIGRATION_EXPORTING] = "exporting",
    [MIGRATION_EXPORTED] = "exported",
    [MIGRATION_HANDING_OVER] = "handing-over",
    [MIGRATION_MOVED] = "moved",
    [MIGRATION_INCOMING] = "incoming",
    [MIGRATION_IMPORTING] = "importing",
    [MIGRATION_IMPORTED] = "imported",
    [MIGRATION_PREPARED] = "prepared",
    [MIGRATION_ADOPTING] = "adopting",
  };
  return (unsigned) state < MIGRATION_STATE_COUNT ? names[state] : "?";
}

const char *
migration_event_name (enum migration_event event)
{
  static const char *const names[MIGRATION_EVENT_COUNT] = {
    [MIGRATION_EV_EXPORT] = "export",
    [MIGRATION_EV_AWAIT_EXECS] = "await-execs",
    [MIGRATION_EV_CREATED_INCOMING] = "created-incoming",
    [MIGRATION_EV_IMPORT] = "import",
    [MIGRATION_EV_DESCRIBED] = "described",
    [MIGRATION_EV_PREPARE] = "prepare",
    [MIGRATION_EV_FINALIZE] = "finalize",
    [MIGRATION_EV_HANDED_OVER] = "handed-over",
    [MIGRATION_EV_ADOPTED] = "adopted",
    [MIGRATION_EV_REFUSED] = "refused",
    [MIGRATION_EV_FAILED] = "failed",
    [MIGRATION_EV_CANCEL] = "cancel",
    [MIGRATION_EV_GIVE_UP] = "give-up",
  };
  return (unsigned) event < MIGRATION_EVENT_COUNT ? names[event] : "?";
}

bool
migration_state_source (enum migration_state state)
{
  return state == MIGRATION_EXPORTING || state == MIGRATION_EXPORTED
         || state == MIGRATION_HANDING_OVER;
}

bool
migration_state_holds_exits (enum migration_state state)
{
  return migration_state_source (state) || state == MIGRATION_MOVED;
}

bool
migration_call_refused (enum migration_call_rule rule,
                        enum migration_state state,
                        enum migration_subject subject)
{
  /* A moved VM's shim serves what is left (its task's end).  */
  if (state == MIGRATION_NONE || state == MIGRATION_MOVED)
    return false;
  bool adopted = subject == MIGRATION_SUBJECT_ADOPTED;
  /* The execs end in their own time: their Kill, CloseIO and Delete are
     served; only a new process would have to be awaited too.  */
  if (state == MIGRATION_AWAITING_EXECS)
    return rule == MIGRATION_CALL_STARTS_PROCESS
           || (rule == MIGRATION_CALL_REFUSED_BUT_SANDBOX
               && subject == MIGRATION_SUBJECT_OTHER);
  switch (rule)
    {
    case MIGRATION_CALL_SERVED:
      return false;
    case MIGRATION_CALL_SERVED_BUT_ADOPTED:
      return adopted;
    case MIGRATION_CALL_REFUSED:
    case MIGRATION_CALL_STARTS_PROCESS:
      return true;
    case MIGRATION_CALL_REFUSED_BUT_SANDBOX:
      return subject == MIGRATION_SUBJECT_OTHER;
    case MIGRATION_CALL_REFUSED_AT_SOURCE:
      return adopted || migration_state_source (state);
    }
  return true;
}
