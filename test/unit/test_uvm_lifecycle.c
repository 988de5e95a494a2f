/* The UVM lifecycle table: each transition the design names is taken,
   every other (state, event) pair is refused and changes nothing, and the
   paths a VM goes through end where they should.  */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "suites.h"
#include "uvm/uvm_lifecycle.h"

struct expected
{
  enum uvm_state from;
  enum uvm_event event;
  enum uvm_state to;
};

/* Written from the diagram in uvm_lifecycle.h, not from the table.  */
static const struct expected legal[] = {
  { UVM_BOOTING, UVM_EV_HELLO, UVM_RUNNING },
  { UVM_BOOTING, UVM_EV_ATTEMPT_FAILED, UVM_RELAUNCHING },
  { UVM_BOOTING, UVM_EV_START_FAILED, UVM_START_FAILED },
  { UVM_BOOTING, UVM_EV_INCOMING, UVM_MIGRATING_IN },
  { UVM_RELAUNCHING, UVM_EV_VMM_EXITED, UVM_BOOTING },
  { UVM_RELAUNCHING, UVM_EV_START_FAILED, UVM_START_FAILED },
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
  { UVM_MIGRATING_IN, UVM_EV_VMM_EXITED, UVM_STOPPED },
  { UVM_STOPPED, UVM_EV_EXIT_REPORTED, UVM_EXITED },
};

static bool
expected_next (enum uvm_state from, enum uvm_event ev, enum uvm_state *to)
{
  if (ev == UVM_EV_DESTROY)
    {
      *to = UVM_DESTROYED;
      return from != UVM_DESTROYED;
    }
  for (size_t i = 0; i < sizeof legal / sizeof *legal; i++)
    if (legal[i].from == from && legal[i].event == ev)
      {
        *to = legal[i].to;
        return true;
      }
  return false;
}

START_TEST (every_pair)
{
  unsigned taken = 0, refused = 0;
  for (int s = 0; s < UVM_STATE_COUNT; s++)
    for (int e = 0; e < UVM_EVENT_COUNT; e++)
      {
        enum uvm_state want, got = (enum uvm_state) 99;
        bool legal_pair = expected_next (s, e, &want);
        bool ok = uvm_lifecycle_next (s, e, &got);
        ck_assert_msg (ok == legal_pair, "%s --%s--> %s, want %s",
                       uvm_state_name (s), uvm_event_name (e),
                       ok ? "taken" : "refused",
                       legal_pair ? "taken" : "refused");
        if (ok)
          {
            ck_assert_msg (got == want, "%s --%s--> %s, want %s",
                           uvm_state_name (s), uvm_event_name (e),
                           uvm_state_name (got), uvm_state_name (want));
            taken++;
          }
        else
          {
            ck_assert_int_eq (got, 99); /* untouched */
            refused++;
          }
      }
  /* The table's transitions plus destroy from the nine other states.  */
  ck_assert_uint_eq (taken,
                     sizeof legal / sizeof *legal + UVM_STATE_COUNT - 1);
  ck_assert_uint_eq (taken + refused, UVM_STATE_COUNT * UVM_EVENT_COUNT);
}
END_TEST

static enum uvm_state
walk (const enum uvm_event *events, size_t n)
{
  enum uvm_state s = UVM_BOOTING;
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (uvm_lifecycle_next (s, events[i], &s),
                   "step %zu (%s) in %s", i, uvm_event_name (events[i]),
                   uvm_state_name (s));
  return s;
}

#define WALK(...)                                                             \
  walk ((const enum uvm_event[]){ __VA_ARGS__ },                              \
        sizeof ((const enum uvm_event[]){ __VA_ARGS__ })                      \
            / sizeof (enum uvm_event))

START_TEST (paths)
{
  /* A boot, a life, an exit, the teardown.  */
  ck_assert_int_eq (WALK (UVM_EV_HELLO, UVM_EV_VMM_EXITED,
                          UVM_EV_EXIT_REPORTED, UVM_EV_DESTROY),
                    UVM_DESTROYED);
  /* Two hung attempts under TCG, then a boot.  */
  ck_assert_int_eq (WALK (UVM_EV_ATTEMPT_FAILED, UVM_EV_VMM_EXITED,
                          UVM_EV_ATTEMPT_FAILED, UVM_EV_VMM_EXITED,
                          UVM_EV_HELLO),
                    UVM_RUNNING);
  /* A relaunch that could not launch; its killed VMM exits later.  */
  ck_assert_int_eq (WALK (UVM_EV_ATTEMPT_FAILED, UVM_EV_VMM_EXITED,
                          UVM_EV_START_FAILED, UVM_EV_VMM_EXITED),
                    UVM_START_FAILED);
  /* Live migration out that failed, then one that finished.  */
  ck_assert_int_eq (WALK (UVM_EV_HELLO, UVM_EV_PAUSE, UVM_EV_MIGRATE_OUT,
                          UVM_EV_MIGRATION_FAILED, UVM_EV_MIGRATE_OUT,
                          UVM_EV_VMM_EXITED, UVM_EV_EXIT_REPORTED),
                    UVM_EXITED);
  ck_assert_int_eq (WALK (UVM_EV_INCOMING, UVM_EV_MIGRATED_IN), UVM_RUNNING);
  /* A destination whose VMM died before the VM ran there: its exit is
     reported like any other.  */
  ck_assert_int_eq (
      WALK (UVM_EV_INCOMING, UVM_EV_VMM_EXITED, UVM_EV_EXIT_REPORTED),
      UVM_EXITED);
}
END_TEST

START_TEST (predicates_and_names)
{
  /* Started: the guest ran with its agent (the exit callback is due).  */
  const enum uvm_state started[]
      = { UVM_RUNNING, UVM_PAUSED, UVM_MIGRATING_OUT, UVM_STOPPED,
          UVM_EXITED };
  for (int s = 0; s < UVM_STATE_COUNT; s++)
    {
      bool want = false;
      for (size_t i = 0; i < sizeof started / sizeof *started; i++)
        want |= (int) started[i] == s;
      ck_assert_int_eq (uvm_state_started (s), want);
      bool booting
          = s == UVM_BOOTING || s == UVM_RELAUNCHING || s == UVM_MIGRATING_IN;
      ck_assert_int_eq (uvm_state_start_reported (s), !booting);
      ck_assert_str_ne (uvm_state_name (s), "?");
      for (int t = 0; t < s; t++)
        ck_assert_str_ne (uvm_state_name (s), uvm_state_name (t));
    }
  for (int e = 0; e < UVM_EVENT_COUNT; e++)
    ck_assert_str_ne (uvm_event_name (e), "?");
  ck_assert_str_eq (uvm_state_name (UVM_STATE_COUNT), "?");
  ck_assert_str_eq (uvm_event_name (UVM_EVENT_COUNT), "?");
}
END_TEST

Suite *
uvm_lifecycle_suite (void)
{
  Suite *s = suite_create ("uvm_lifecycle");
  TCase *t = tcase_create ("transitions");
  tcase_add_test (t, every_pair);
  tcase_add_test (t, paths);
  tcase_add_test (t, predicates_and_names);
  suite_add_tcase (s, t);
  return s;
}
