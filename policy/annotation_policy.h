/* The UVM-shape annotation policy for live-migratable sandboxes: only
   host-agnostic io.microsoft.virtualmachine.* knobs, four locked values, no
   HvSocket service-table entries, default deny for the rest.  Pure.  */
#ifndef LCOW_POLICY_ANNOTATION_POLICY_H
#define LCOW_POLICY_ANNOTATION_POLICY_H

#include <stddef.h>

#include "problems.h"
#include "proto/oci_spec.h"

#define ANNOTATION_VM_PREFIX "io.microsoft.virtualmachine."
#define ANNOTATION_HVSOCKET_PREFIX                                            \
  "io.microsoft.virtualmachine.hv-socket.service-table."

enum annotation_verdict
{
  ANNOTATION_IGNORED,    /* outside the namespace */
  ANNOTATION_ALLOWED,    /* allow-listed, any value */
  ANNOTATION_LOCKED_OK,  /* locked key with its required value */
  ANNOTATION_LOCKED_BAD, /* locked key with another value */
  ANNOTATION_HVSOCKET,   /* service-table entry: never allowed */
  ANNOTATION_DENIED,     /* default deny */
};

enum annotation_verdict annotation_policy_classify (const char *key,
                                                    const char *value);
/* The required value of a locked key, or NULL.  */
const char *annotation_policy_locked_value (const char *key);
/* Adds one problem per offending annotation, in the spec's order.  */
void annotation_policy_check (const struct oci_spec *spec,
                              struct policy_problems *problems);

extern const char *const annotation_policy_allowed_keys[];
extern const size_t annotation_policy_allowed_count;

#endif
