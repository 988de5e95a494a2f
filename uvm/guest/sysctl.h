/* linux.sysctl written in the guest, for a container's init (its own
   namespaces) and for the pod (the holder of the pod's namespaces, before
   any container joins them).  Which keys are allowed is
   policy/sysctl_policy.h's, checked before anything is written.  */
#ifndef LCOW_UVM_GUEST_SYSCTL_H
#define LCOW_UVM_GUEST_SYSCTL_H

#include <stddef.h>

#include "proto/oci_spec.h"

/* Writes each value to /proc/sys/<key with '/' for '.'>, in the calling
   process's namespaces; 0, or -1 with errno and the key at fault in
   *failed.  */
int sysctl_apply (const struct oci_key_value *sysctls, size_t n,
                  const char **failed);

#endif
