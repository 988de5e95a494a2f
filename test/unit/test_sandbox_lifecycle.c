/* The sandbox's states: each transition sandbox.h names is taken, every
   other (state, event) pair is refused and changes nothing.  */
#include <check.h>
#include <stdbool.h>

#include "daemon/sandbox.h"
#include "suites.h"

#define NSTATES (SANDBOX_ENDED + 1)
#define NEVENTS (SANDBOX_EV_END + 1)

START_TEST (every_pair)
{
  /* want[state][event]: the next state, or -1 for a refusal.  */
  static const int want[NSTATES][NEVENTS] = {
    [SANDBOX_CREATING] = { SANDBOX_READY, -1, SANDBOX_ENDED },
    [SANDBOX_READY] = { -1, SANDBOX_STOPPED, SANDBOX_ENDED },
    [SANDBOX_STOPPED] = { -1, -1, SANDBOX_ENDED },
    [SANDBOX_ENDED] = { -1, -1, -1 },
  };
  for (int s = 0; s < NSTATES; s++)
    for (int e = 0; e < NEVENTS; e++)
      {
        enum sandbox_state next = (enum sandbox_state) 99;
        bool ok = sandbox_state_next (s, e, &next);
        ck_assert_msg (ok == (want[s][e] >= 0), "%s, event %d: %s",
                       sandbox_state_name (s), e, ok ? "taken" : "refused");
        ck_assert_int_eq (next, ok ? want[s][e] : 99);
      }
}
END_TEST

START_TEST (names)
{
  for (int s = 0; s < NSTATES; s++)
    {
      ck_assert_str_ne (sandbox_state_name (s), "?");
      for (int t = 0; t < s; t++)
        ck_assert_str_ne (sandbox_state_name (s), sandbox_state_name (t));
    }
}
END_TEST

Suite *
sandbox_lifecycle_suite (void)
{
  Suite *s = suite_create ("sandbox_lifecycle");
  TCase *t = tcase_create ("transitions");
  tcase_add_test (t, every_pair);
  tcase_add_test (t, names);
  suite_add_tcase (s, t);
  return s;
}
