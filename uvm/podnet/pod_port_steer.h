/* containerd's PortForward reaches a pod's port by connecting to
   127.0.0.1:PORT inside the pod's network namespace on the host; in a VM's
   pod nothing listens there (the server is in the guest).  This steers
   every such connection, whatever its port, to one listening socket of the
   shim's in that namespace: a BPF sk_lookup program attached to the
   namespace hands the kernel's socket lookup for TCP to 127.0.0.1 the
   shim's socket from a one-entry SOCKMAP.  The accepted socket keeps the
   port the client asked for as its local address (getsockname), so the
   shim knows where to connect in the guest.  No netfilter, no module, no
   external command; the steering ends when the link's fd is closed (with
   the shim, at the latest).  */
#ifndef LCOW_UVM_PODNET_POD_PORT_STEER_H
#define LCOW_UVM_PODNET_POD_PORT_STEER_H

#include "proto/base/error.h"

struct pod_port_steer
{
  int listen_fd; /* TCP, 127.0.0.1:<ephemeral> in the pod's namespace,
                    listening, non-blocking */
  int link_fd;   /* the sk_lookup program's link to the namespace */
};

/* Makes both for the namespace at netns_path (the calling thread enters
   it for the socket and returns to its own: syscalls only, nothing that
   waits).  FailedPrecondition for the host's own namespace or one that
   cannot be entered; Unavailable when the kernel refuses the program.  */
int pod_port_steer_open (const char *netns_path, struct pod_port_steer *out,
                         shim_error **err);
void pod_port_steer_close (struct pod_port_steer *s);

#endif
