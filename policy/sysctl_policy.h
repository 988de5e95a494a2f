/* linux.sysctl keys a VM can give a pod or a container: those the
   namespaces the guest makes scope (IPC: kernel.msg*, kernel.sem,
   kernel.shm*, fs.mqueue.*; UTS: kernel.domainname) and net.*, which
   scopes the UVM's network namespace: the pod's, as a pod's sysctls do
   under runc.  Any other key would change the whole UVM (a kernel every
   container of the pod shares) and is refused by name, never dropped.
   The same rules for a pod sandbox's sysctls (checked by the shim at
   RunPodSandbox) and a container's (checked by the guest agent).  Pure.  */
#ifndef LCOW_POLICY_SYSCTL_POLICY_H
#define LCOW_POLICY_SYSCTL_POLICY_H

#include <stddef.h>

#include "proto/base/strbuf.h"
#include "proto/oci_spec.h"

/* 0, or -1 with every refused key and why in *bad ("k (why), k2 (why)").  */
int sysctl_policy_check (const struct oci_key_value *sysctls, size_t n,
                         strbuf *bad);

#endif
