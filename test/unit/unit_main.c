/* Runs every unit suite; exit status is non-zero on any failure.  */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int
main (void)
{
  SRunner *sr = srunner_create (NULL);
  for (size_t i = 0; unit_suites[i] != NULL; i++)
    srunner_add_suite (sr, unit_suites[i]());
  srunner_run_all (sr, CK_ENV);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
