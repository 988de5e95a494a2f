/* The VM's NIC in the pod's network namespace, as Kata's default
   "tcfilter" model does it: the interface CNI made in the namespace (a
   veth end with the pod's IPv4 addresses and routes), a TAP there owned by
   the VMM's user, and tc ingress redirects joining the two both ways, so
   that every frame CNI's interface receives goes to the VM and back.  QEMU
   runs in the namespace (its helper enters it) and opens the TAP by name
   for a virtio-net device with the interface's MAC; the guest agent then
   gives that NIC the interface's MTU, addresses and routes.  tc redirects
   and not macvtap: they need no host device besides the TAP, work on any
   interface type CNI makes, and leave CNI's interface as it was for CNI
   DEL.  The work is the pod-network helper's (pod_network_helper.h), run
   off the loop; these start it and read its answer.  */
#ifndef LCOW_UVM_PODNET_POD_NETWORK_H
#define LCOW_UVM_PODNET_POD_NETWORK_H

#include <sys/types.h>
#include <uv.h>

#include "pod_nic.h"
#include "proto/base/error.h"

/* The interface, connected (err NULL), or why not (nothing is left in the
   namespace then).  nic is the caller's only for the call.  */
typedef void (*pod_network_connected_fn) (void *data,
                                          const struct pod_nic *nic,
                                          const shim_error *err);

/* Finds the interface in the namespace at netns_path and connects a TAP to
   it for the VMM's uid; done is called once, from the loop.  helper_exe is
   the shim's executable.  */
int pod_network_connect (uv_loop_t *loop, const char *helper_exe,
                         const char *netns_path, uid_t vmm_uid,
                         pod_network_connected_fn done, void *data,
                         shim_error **err);
/* Removes the TAP, the shim's redirect on the interface and its ingress
   qdisc if the shim made it (missing ones are fine), in the background: the
   outcome is logged, the loop runs until it is done.  */
void pod_network_disconnect (uv_loop_t *loop, const char *helper_exe,
                             const char *netns_path,
                             const struct pod_nic *nic);

#endif
