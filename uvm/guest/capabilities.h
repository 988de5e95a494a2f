/* A process's capabilities as the OCI spec sets them, applied as runc
   applies them: the bounding set dropped to the spec's, the permitted,
   effective and inheritable sets set after the user is taken on (the
   capabilities kept across setuid), the ambient ones raised.  A spec
   without process.capabilities leaves the process what it inherits.  */
#ifndef LCOW_UVM_GUEST_CAPABILITIES_H
#define LCOW_UVM_GUEST_CAPABILITIES_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/strbuf.h"
#include "proto/oci_spec.h"

struct capability_plan
{
  bool set; /* the spec has process.capabilities */
  uint64_t sets[OCI_CAP_SETS];
};

/* Pure: the names as bit masks.  A name this agent does not know, or one
   above last_cap (the guest kernel's highest capability), is refused: -1
   with every such name in *bad ("effective: CAP_FOO, ...").  */
int capability_plan_build (const struct oci_process *p, unsigned last_cap,
                           struct capability_plan *out, strbuf *bad);

/* The guest kernel's highest capability number.  */
unsigned capability_last_cap (void);

/* Before the user is taken on: drops the bounding set to the plan's and
   keeps the capabilities across setuid.  0, or -1 with errno.  */
int capability_plan_apply_before_user (const struct capability_plan *plan,
                                       unsigned last_cap);
/* After it: the permitted, effective and inheritable sets, then the
   ambient ones.  0, or -1 with errno.  */
int capability_plan_apply_after_user (const struct capability_plan *plan);

#endif
