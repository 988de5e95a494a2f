/* The PID namespace the agent's next child is born in (a PID namespace is
   entered by children only): a new one, whose init the child is; the
   pod's (see pod_namespaces.h); or a container's own.  The agent itself
   stays in the guest's root namespace, which no container sees: a
   container cannot signal or ptrace the agent or the guest's init.  */
#ifndef LCOW_UVM_GUEST_PID_NAMESPACE_H
#define LCOW_UVM_GUEST_PID_NAMESPACE_H

#include <sys/types.h>

enum pid_ns_kind
{
  PID_NS_NEW,
  PID_NS_POD,
  PID_NS_OF_PROCESS,
};

/* Makes the agent's next child born in that namespace (of_process: the
   init whose namespace to join, for PID_NS_OF_PROCESS; PID_NS_POD once
   pod_namespaces_ensure succeeded); 0, or -1 with errno.  pid_ns_restore
   must follow the fork either way.  */
int pid_ns_prepare (enum pid_ns_kind kind, pid_t of_process);
/* Children are born in the agent's own namespace again.  */
void pid_ns_restore (void);

#endif
