/* The namespaces a container's spec may ask the guest agent for.  The agent
   gives every container new mount namespace, a new cgroup namespace when
   listed, and new PID, UTS and IPC namespaces or the pod's ones when the
   spec names the pod sandbox's (what CRI writes: /proc/<sandbox task
   pid>/ns/<type>); the network namespace is the UVM's, which is the pod's,
   whatever path the spec names.  Pure.  */
#ifndef LCOW_POLICY_NAMESPACE_POLICY_H
#define LCOW_POLICY_NAMESPACE_POLICY_H

#include "problems.h"
#include "proto/oci_spec.h"

/* pod_ns_dir: where a pod container names the pod's namespaces
   ("/proc/<sandbox task pid>/ns"), NULL for a container in no pod.  */
void namespace_policy_check (const struct oci_spec *spec,
                             const char *pod_ns_dir,
                             struct policy_problems *problems);
/* The pod sandbox's own spec: what a VM cannot give a pod (a spec with no
   IPC namespace asks for the node's: CRI's hostIPC; with no network
   namespace, the node's network: hostNetwork).  */
void namespace_policy_check_pod (const struct oci_spec *spec,
                                 struct policy_problems *problems);

#endif
