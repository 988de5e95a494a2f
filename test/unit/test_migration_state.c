/* The daemon's live-migration state: each transition migration_state.h
   names is taken, every other (state, event) pair is refused and changes
   nothing, the paths an orchestrator drives end where they should, and
   each Task method's rule refuses what it says.  */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "daemon/migration_state.h"
#include "uvm/migration/migration_phase.h"
#include "suites.h"

struct expected
{
  enum migration_state from;
  enum migration_event event;
  enum migration_state to;
};

/* Written from the diagram in migration_state.h, not from the table.  */
static const struct expected legal[] = {
  { MIGRATION_NONE, MIGRATION_EV_EXPORT, MIGRATION_EXPORTING },
  { MIGRATION_NONE, MIGRATION_EV_AWAIT_EXECS, MIGRATION_AWAITING_EXECS },
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_EXPORT, MIGRATION_EXPORTING },
  { MIGRATION_EXPORTING, MIGRATION_EV_DESCRIBED, MIGRATION_EXPORTED },
  { MIGRATION_EXPORTED, MIGRATION_EV_FINALIZE, MIGRATION_HANDING_OVER },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_HANDED_OVER, MIGRATION_MOVED },
  { MIGRATION_NONE, MIGRATION_EV_CREATED_INCOMING, MIGRATION_INCOMING },
  { MIGRATION_INCOMING, MIGRATION_EV_IMPORT, MIGRATION_IMPORTING },
  { MIGRATION_IMPORTING, MIGRATION_EV_DESCRIBED, MIGRATION_IMPORTED },
  { MIGRATION_IMPORTED, MIGRATION_EV_PREPARE, MIGRATION_PREPARED },
  { MIGRATION_PREPARED, MIGRATION_EV_FINALIZE, MIGRATION_ADOPTING },
  { MIGRATION_ADOPTING, MIGRATION_EV_ADOPTED, MIGRATION_NONE },
  /* refused: back to where the call was asked */
  { MIGRATION_EXPORTING, MIGRATION_EV_REFUSED, MIGRATION_NONE },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_REFUSED, MIGRATION_EXPORTED },
  { MIGRATION_IMPORTING, MIGRATION_EV_REFUSED, MIGRATION_INCOMING },
  { MIGRATION_ADOPTING, MIGRATION_EV_REFUSED, MIGRATION_PREPARED },
  /* failed later */
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_FAILED, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_FAILED, MIGRATION_NONE },
  { MIGRATION_IMPORTING, MIGRATION_EV_FAILED, MIGRATION_INCOMING },
  { MIGRATION_ADOPTING, MIGRATION_EV_FAILED, MIGRATION_NONE },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_FAILED, MIGRATION_MOVED },
  /* cancel */
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_CANCEL, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_CANCEL, MIGRATION_NONE },
  { MIGRATION_EXPORTED, MIGRATION_EV_CANCEL, MIGRATION_NONE },
  { MIGRATION_INCOMING, MIGRATION_EV_CANCEL, MIGRATION_INCOMING },
  { MIGRATION_IMPORTED, MIGRATION_EV_CANCEL, MIGRATION_INCOMING },
  { MIGRATION_PREPARED, MIGRATION_EV_CANCEL, MIGRATION_INCOMING },
  { MIGRATION_IMPORTING, MIGRATION_EV_CANCEL, MIGRATION_IMPORTING },
  { MIGRATION_ADOPTING, MIGRATION_EV_CANCEL, MIGRATION_ADOPTING },
  /* give up */
  { MIGRATION_AWAITING_EXECS, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_EXPORTING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_EXPORTED, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_HANDING_OVER, MIGRATION_EV_GIVE_UP, MIGRATION_MOVED },
  { MIGRATION_INCOMING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_IMPORTING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_IMPORTED, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_PREPARED, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
  { MIGRATION_ADOPTING, MIGRATION_EV_GIVE_UP, MIGRATION_NONE },
};

START_TEST (every_pair)
{
  unsigned taken = 0;
  for (int s = 0; s < MIGRATION_STATE_COUNT; s++)
    for (int e = 0; e < MIGRATION_EVENT_COUNT; e++)
      {
        const struct expected *want = NULL;
        for (size_t i = 0; i < sizeof legal / sizeof *legal; i++)
          if (legal[i].from == (enum migration_state) s
              && legal[i].event == (enum migration_event) e)
            want = &legal[i];
        enum migration_state got = (enum migration_state) 99;
        bool ok = migration_state_next (s, e, &got);
        ck_assert_msg (ok == (want != NULL), "%s --%s--> %s",
                       migration_state_name (s), migration_event_name (e),
                       ok ? "taken, want refused" : "refused, want taken");
        if (ok)
          {
            ck_assert_msg (got == want->to, "%s --%s--> %s, want %s",
                           migration_state_name (s), migration_event_name (e),
                           migration_state_name (got),
                           migration_state_name (want->to));
            taken++;
          }
        else
          ck_assert_int_eq (got, 99); /* untouched */
      }
  ck_assert_uint_eq (taken, sizeof legal / sizeof *legal);
}
END_TEST

static enum migration_state
walk (enum migration_state s, const enum migration_event *events, size_t n)
{
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (migration_state_next (s, events[i], &s),
                   "step %zu (%s) in %s", i, migration_event_name (events[i]),
                   migration_state_name (s));
  return s;
}

#define WALK(from, ...)                                                       \
  walk (from, (const enum migration_event[]){ __VA_ARGS__ },                  \
        sizeof ((const enum migration_event[]){ __VA_ARGS__ })                \
            / sizeof (enum migration_event))

START_TEST (paths)
{
  /* The source of a migration that went through.  */
  ck_assert_int_eq (WALK (MIGRATION_NONE, MIGRATION_EV_EXPORT,
                          MIGRATION_EV_DESCRIBED, MIGRATION_EV_FINALIZE,
                          MIGRATION_EV_HANDED_OVER),
                    MIGRATION_MOVED);
  /* A source that awaited its exec'd processes first.  */
  ck_assert_int_eq (WALK (MIGRATION_NONE, MIGRATION_EV_AWAIT_EXECS,
                          MIGRATION_EV_EXPORT, MIGRATION_EV_DESCRIBED),
                    MIGRATION_EXPORTED);
  /* Its destination.  */
  ck_assert_int_eq (WALK (MIGRATION_NONE, MIGRATION_EV_CREATED_INCOMING,
                          MIGRATION_EV_IMPORT, MIGRATION_EV_DESCRIBED,
                          MIGRATION_EV_PREPARE, MIGRATION_EV_FINALIZE,
                          MIGRATION_EV_ADOPTED),
                    MIGRATION_NONE);
  /* A destination finalizes only once it listens (Prepare).  */
  enum migration_state next;
  ck_assert (!migration_state_next (MIGRATION_IMPORTED, MIGRATION_EV_FINALIZE,
                                    &next));
  /* A source cancelled after its transfer started runs on, and may be
     exported again.  */
  ck_assert_int_eq (WALK (MIGRATION_NONE, MIGRATION_EV_EXPORT,
                          MIGRATION_EV_DESCRIBED, MIGRATION_EV_CANCEL,
                          MIGRATION_EV_EXPORT),
                    MIGRATION_EXPORTING);
  /* A destination whose import failed imports again.  */
  ck_assert_int_eq (WALK (MIGRATION_NONE, MIGRATION_EV_CREATED_INCOMING,
                          MIGRATION_EV_IMPORT, MIGRATION_EV_FAILED,
                          MIGRATION_EV_IMPORT, MIGRATION_EV_DESCRIBED),
                    MIGRATION_IMPORTED);
  /* A moved VM cannot be exported, cancelled or given up.  */
  enum migration_state s;
  ck_assert (!migration_state_next (MIGRATION_MOVED, MIGRATION_EV_EXPORT, &s));
  ck_assert (!migration_state_next (MIGRATION_MOVED, MIGRATION_EV_CANCEL, &s));
  ck_assert (
      !migration_state_next (MIGRATION_MOVED, MIGRATION_EV_GIVE_UP, &s));
}
END_TEST

START_TEST (call_rules)
{
  for (int s = 0; s < MIGRATION_STATE_COUNT; s++)
    {
      bool migrating = s != MIGRATION_NONE && s != MIGRATION_MOVED
                       && s != MIGRATION_AWAITING_EXECS;
      bool awaiting = s == MIGRATION_AWAITING_EXECS;
      bool source = s == MIGRATION_EXPORTING || s == MIGRATION_EXPORTED
                    || s == MIGRATION_HANDING_OVER;
      ck_assert (migration_state_source (s) == source);
      ck_assert (migration_state_holds_exits (s)
                 == (source || s == MIGRATION_MOVED));
      for (int who = MIGRATION_SUBJECT_OTHER; who <= MIGRATION_SUBJECT_ADOPTED;
           who++)
        {
          enum migration_subject subject = (enum migration_subject) who;
          bool other = subject == MIGRATION_SUBJECT_OTHER;
          bool adopted = subject == MIGRATION_SUBJECT_ADOPTED;
          ck_assert (
              !migration_call_refused (MIGRATION_CALL_SERVED, s, subject));
          ck_assert (migration_call_refused (MIGRATION_CALL_SERVED_BUT_ADOPTED,
                                             s, subject)
                     == (migrating && adopted));
          ck_assert (
              migration_call_refused (MIGRATION_CALL_REFUSED, s, subject)
              == migrating);
          ck_assert (migration_call_refused (MIGRATION_CALL_STARTS_PROCESS, s,
                                             subject)
                     == (migrating || awaiting));
          ck_assert (migration_call_refused (
                         MIGRATION_CALL_REFUSED_BUT_SANDBOX, s, subject)
                     == ((migrating || awaiting) && other));
          ck_assert (migration_call_refused (MIGRATION_CALL_REFUSED_AT_SOURCE,
                                             s, subject)
                     == (migrating && (source || adopted)));
        }
    }
  ck_assert_str_eq (migration_state_name (MIGRATION_HANDING_OVER),
                    "handing-over");
  ck_assert_str_eq (migration_event_name (MIGRATION_EV_GIVE_UP), "give-up");
}
END_TEST

/* The VM's phases, from the diagram in uvm/migration/migration_phase.h.  */
static const struct
{
  enum uvm_migration_phase from;
  enum uvm_migration_event event;
  enum uvm_migration_phase to;
} phase_legal[] = {
  { UVM_MIGRATION_NONE, UVM_MIG_EV_EXPORT, UVM_MIGRATION_BARRIER },
  { UVM_MIGRATION_BARRIER, UVM_MIG_EV_BARRIER_PASSED, UVM_MIGRATION_SENDING },
  { UVM_MIGRATION_SENDING, UVM_MIG_EV_SWITCHED_OVER, UVM_MIGRATION_COMPLETED },
  { UVM_MIGRATION_COMPLETED, UVM_MIG_EV_HAND_OVER,
    UVM_MIGRATION_HANDING_OVER },
  { UVM_MIGRATION_BARRIER, UVM_MIG_EV_FAILED, UVM_MIGRATION_NONE },
  { UVM_MIGRATION_SENDING, UVM_MIG_EV_FAILED, UVM_MIGRATION_NONE },
  { UVM_MIGRATION_NONE, UVM_MIG_EV_LISTEN, UVM_MIGRATION_LISTENING },
  { UVM_MIGRATION_LISTENING, UVM_MIG_EV_CONNECTED, UVM_MIGRATION_RECEIVING },
  { UVM_MIGRATION_RECEIVING, UVM_MIG_EV_ADOPT, UVM_MIGRATION_ADOPTING },
  { UVM_MIGRATION_ADOPTING, UVM_MIG_EV_ADOPTED, UVM_MIGRATION_NONE },
};

START_TEST (vm_phases)
{
  unsigned taken = 0;
  for (int p = 0; p < UVM_MIGRATION_PHASE_COUNT; p++)
    for (int e = 0; e < UVM_MIGRATION_EVENT_COUNT; e++)
      {
        int want = -1;
        for (size_t i = 0; i < sizeof phase_legal / sizeof *phase_legal; i++)
          if (phase_legal[i].from == (enum uvm_migration_phase) p
              && phase_legal[i].event == (enum uvm_migration_event) e)
            want = (int) phase_legal[i].to;
        enum uvm_migration_phase got = (enum uvm_migration_phase) 99;
        bool ok = uvm_migration_phase_next (p, e, &got);
        ck_assert_msg (ok == (want >= 0), "%s --%s--> %s",
                       uvm_migration_phase_name (p),
                       uvm_migration_event_name (e),
                       ok ? "taken, want refused" : "refused, want taken");
        ck_assert_int_eq (got, ok ? want : 99);
        taken += ok;
      }
  ck_assert_uint_eq (taken, sizeof phase_legal / sizeof *phase_legal);
}
END_TEST

Suite *
migration_state_suite (void)
{
  Suite *s = suite_create ("migration_state");
  TCase *t = tcase_create ("table");
  tcase_add_test (t, every_pair);
  tcase_add_test (t, paths);
  tcase_add_test (t, call_rules);
  tcase_add_test (t, vm_phases);
  suite_add_tcase (s, t);
  return s;
}
