/* libFuzzer: the OCI spec reader, then the migratability decision, the
   annotation policy and the container checks on whatever it accepted.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>

#include "policy/annotation_policy.h"
#include "policy/container_policy.h"
#include "policy/migration.h"
#include "policy/problems.h"
#include "proto/oci_spec.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  if (oci_spec_parse ((const char *) data, size, &spec, &err) < 0)
    {
      shim_error_free (err);
      return 0;
    }
  struct migration_decision md = { 0 };
  if (migration_resolve (spec, &md, &err) < 0)
    shim_error_free (err);
  migration_decision_release (&md);
  struct policy_problems problems = { 0 };
  annotation_policy_check (spec, &problems);
  container_policy_check (spec, &problems);
  err = NULL;
  if (policy_problems_to_error (&problems, "fuzz", &err) < 0)
    shim_error_free (err);
  oci_spec_free (spec);
  return 0;
}
