/* linux.sysctl in the guest: the keys a container may set are those its
   own namespaces scope (IPC: kernel.msg*, kernel.sem, kernel.shm*,
   fs.mqueue.*; UTS: kernel.domainname) and net.*, which scopes the UVM's
   network namespace: the pod's, as a pod's sysctls do under runc.  Any
   other key would change the whole UVM and is refused.  */
#ifndef LCOW_UVM_GUEST_SYSCTL_H
#define LCOW_UVM_GUEST_SYSCTL_H

#include "proto/base/strbuf.h"
#include "proto/oci_spec.h"

/* Pure: 0, or -1 with every refused key and why in *bad.  */
int sysctl_check (const struct oci_spec *s, strbuf *bad);
/* Writes each value to /proc/sys/<key with '/' for '.'>; 0, or -1 with
   errno and the key at fault in *failed.  */
int sysctl_apply (const struct oci_spec *s, const char **failed);

#endif
