/* The pod's shared namespaces in the guest: PID, UTS (its hostname from the
   pod sandbox's spec) and IPC, which CRI asks a pod's containers to join by
   naming the sandbox task's (/proc/<pid>/ns/...).  A process of the
   agent's holds them, as the pause container does under runc: the init of
   the pod's PID namespace, reaping what is reparented to it, with nothing a
   container sharing them could use (no file, no capability, nobody's user,
   an empty root, not dumpable).  One pod per UVM: started on first use.  */
#ifndef LCOW_UVM_GUEST_POD_NAMESPACES_H
#define LCOW_UVM_GUEST_POD_NAMESPACES_H

#include <stdbool.h>

#include "proto/base/error.h"
#include "proto/oci_spec.h"

enum pod_ns
{
  POD_NS_PID,
  POD_NS_UTS,
  POD_NS_IPC,
  POD_NS_COUNT,
};

/* Starts the holder if it is not running (hostname: the pod's, or NULL;
   the pod's sysctls, written in its namespaces before anything joins
   them); 0, or -1 with *err naming a sysctl that could not be written.  */
int pod_namespaces_ensure (const char *hostname,
                           const struct oci_key_value *sysctls, size_t n,
                           shim_error **err);
/* An fd of that namespace for setns (valid once ensured).  */
int pod_namespace_fd (enum pod_ns ns);

#endif
