/* The namespaces a container's spec may ask the guest agent for.  The agent
   gives every container new mount, UTS and IPC namespaces, a new cgroup
   namespace when listed, and a new PID namespace, or the pod's one when the
   spec names the pod sandbox's (what CRI writes for shareProcessNamespace);
   the network namespace is the UVM's, which is the pod's.  Pure.  */
#ifndef LCOW_POLICY_NAMESPACE_POLICY_H
#define LCOW_POLICY_NAMESPACE_POLICY_H

#include "problems.h"
#include "proto/oci_spec.h"

/* pod_pid_ns: the path a pod container names to share the pod's PID
   namespace ("/proc/<sandbox task pid>/ns/pid"), NULL for a container in
   no pod.  */
void namespace_policy_check (const struct oci_spec *spec,
                             const char *pod_pid_ns,
                             struct policy_problems *problems);

#endif
