/* A task's status only moves forward: created, running, stopped (and
   UNKNOWN before any); every pair of statuses, and the record's serials.  */
#include <check.h>

#include "daemon/service_record.h"
#include "daemon/task.h"
#include "suites.h"

static const Pb__TaskStatus statuses[] = {
  PB__TASK_STATUS__UNKNOWN, PB__TASK_STATUS__CREATED, PB__TASK_STATUS__RUNNING,
  PB__TASK_STATUS__STOPPED, PB__TASK_STATUS__PAUSED,  PB__TASK_STATUS__PAUSING,
};

/* want[from][to]: the status after task_set_status (to) in from.  */
static const Pb__TaskStatus U
    = PB__TASK_STATUS__UNKNOWN,
    C = PB__TASK_STATUS__CREATED, R = PB__TASK_STATUS__RUNNING,
    S = PB__TASK_STATUS__STOPPED, P = PB__TASK_STATUS__PAUSED,
    G = PB__TASK_STATUS__PAUSING;

START_TEST (forward_only)
{
  /* Paused and pausing are never entered (Pause is Unimplemented).  */
  const Pb__TaskStatus want[6][6] = {
    /* to:       U  C  R  S  P  G */
    [0] = { U, C, R, S, U, U }, /* from UNKNOWN */
    [1] = { C, C, R, S, C, C }, /* from CREATED */
    [2] = { R, R, R, S, R, R }, /* from RUNNING */
    [3] = { S, S, S, S, S, S }, /* from STOPPED */
    [4] = { P, C, R, S, P, P }, /* from PAUSED (never entered) */
    [5] = { G, C, R, S, G, G }, /* from PAUSING (never entered) */
  };
  struct task_service *ts
      = service_record_new (&(struct task_service_config){ 0 });
  struct task *t = task_new (ts, "t", NULL, "/b", "", "", "", false);
  for (int from = 0; from < 6; from++)
    for (int to = 0; to < 6; to++)
      {
        t->status = statuses[from];
        task_set_status (t, statuses[to]);
        ck_assert_msg (t->status == want[from][to], "%d -> %d gave %d",
                       statuses[from], statuses[to], t->status);
      }
  task_free (t);
  service_record_free (ts);
}
END_TEST

START_TEST (records_have_their_own_serials)
{
  struct task_service *ts
      = service_record_new (&(struct task_service_config){ 0 });
  struct task *a = task_new (ts, "c0", NULL, "/b", "", "", "", false);
  struct task *b = task_new (ts, "c0", NULL, "/b", "", "", "", false);
  ck_assert_uint_ne (a->serial, 0);
  ck_assert_uint_gt (b->serial, a->serial);
  ck_assert_int_eq (a->status, PB__TASK_STATUS__UNKNOWN);
  task_free (a);
  task_free (b);
  service_record_free (ts);
}
END_TEST

Suite *
task_status_suite (void)
{
  Suite *s = suite_create ("task_status");
  TCase *t = tcase_create ("status");
  tcase_add_test (t, forward_only);
  tcase_add_test (t, records_have_their_own_serials);
  suite_add_tcase (s, t);
  return s;
}
