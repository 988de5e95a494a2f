/* The VM's NIC in the pod's network namespace, as Kata's default
   "tcfilter" model does it: the shim finds the interface CNI made in the
   namespace (a veth end with the pod's IPv4 addresses and routes), makes a
   TAP there owned by the VMM's user, and joins the two with tc ingress
   redirects both ways (u32 match-all, mirred egress redirect), so that every
   frame CNI's interface receives goes to the VM and back.  QEMU runs in the
   namespace (its helper enters it) and opens the TAP by name for a
   virtio-net device with the interface's MAC; the guest agent then gives
   that NIC the interface's MTU, addresses and routes.  tc redirects and not
   macvtap: they need no host device besides the TAP, work on any interface
   type CNI makes, and leave CNI's interface as it was for CNI DEL.  */
#ifndef LCOW_UVM_POD_NETWORK_H
#define LCOW_UVM_POD_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/base/error.h"

#define POD_NIC_TAP "tap0_lcow"
/* The priority of the shim's redirect on CNI's interface: what teardown
   removes there, and nothing else of CNI's.  */
#define POD_NIC_FILTER_PREF "49152"
#define POD_NIC_MAX_ADDRESSES 8
#define POD_NIC_MAX_ROUTES 32

struct pod_nic
{
  char ifname[16];
  char mac[18];
  uint32_t mtu;
  /* "10.0.0.2/24".  */
  char addresses[POD_NIC_MAX_ADDRESSES][48];
  size_t naddresses;
  /* "default" or "10.0.0.0/24", and a gateway or "".  */
  struct
  {
    char dst[48];
    char gateway[48];
  } routes[POD_NIC_MAX_ROUTES];
  size_t nroutes;
  /* The interface's ingress qdisc is the shim's (CNI made none).  */
  bool ingress_ours;
};

/* Pure: the interface from `ip -json addr show` and `ip -json route show`
   run in the namespace: the first Ethernet interface with an IPv4 address
   (not the TAP), and its IPv4 routes.  FailedPrecondition when there is
   none.  */
int pod_nic_parse (const char *addr_json, size_t addr_len,
                   const char *route_json, size_t route_len,
                   struct pod_nic *out, shim_error **err);
/* Pure: whether `tc -json qdisc show dev IF ingress` lists an ingress
   qdisc.  */
bool pod_nic_has_ingress (const char *tc_json, size_t len);
/* Pure: the guest agent's network request body (uvm/guest/network.h).  */
char *pod_nic_guest_body (const struct pod_nic *nic);

/* Finds the interface in the namespace at netns_path and connects a TAP to
   it for the VMM's uid.  */
int pod_network_connect (const char *netns_path, uid_t vmm_uid,
                         struct pod_nic *out, shim_error **err);
/* Removes the TAP, the shim's redirect on the interface and its ingress
   qdisc if the shim made it (missing ones are fine); never in the host's
   own namespace.  */
void pod_network_disconnect (const char *netns_path,
                             const struct pod_nic *nic);

#endif
