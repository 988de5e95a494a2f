/* The pod's interface as the VM takes it over (pod_network.h): what the
   pod-network helper reads in the namespace and answers, and what the
   guest agent is told.  Pure: no I/O.  */
#ifndef LCOW_UVM_PODNET_POD_NIC_H
#define LCOW_UVM_PODNET_POD_NIC_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"
#include "proto/base/json.h"

#define POD_NIC_TAP "tap0_lcow"
#define POD_NIC_MAX_ADDRESSES 8
#define POD_NIC_MAX_ROUTES 32
/* Links of a namespace looked at (CNI makes one or two).  */
#define POD_NIC_MAX_LINKS 64

struct pod_nic
{
  char ifname[16];
  int ifindex;
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

/* What a namespace's rtnetlink dumps say, message by message: its links,
   their IPv4 addresses and its IPv4 routes.  */
struct pod_nic_scan
{
  struct
  {
    int index;
    char name[16];
    char mac[18];
    uint32_t mtu;
    bool ether;
    size_t naddresses;
    char addresses[POD_NIC_MAX_ADDRESSES][48];
  } links[POD_NIC_MAX_LINKS];
  size_t nlinks;
};

/* RTM_NEWLINK and RTM_NEWADDR messages of the dumps.  */
void pod_nic_scan_link (struct pod_nic_scan *s, const struct nlmsghdr *h);
void pod_nic_scan_address (struct pod_nic_scan *s, const struct nlmsghdr *h);
/* The first Ethernet link (not the TAP) with an IPv4 address.
   FailedPrecondition when there is none.  */
int pod_nic_pick (const struct pod_nic_scan *s, struct pod_nic *out,
                  shim_error **err);
/* An RTM_NEWROUTE message: a main-table IPv4 route through the picked
   interface joins out's routes.  */
void pod_nic_add_route (struct pod_nic *nic, const struct nlmsghdr *h);

/* The helper's answer and its reading back.  */
char *pod_nic_to_json (const struct pod_nic *nic);
int pod_nic_from_json (const json_value *v, struct pod_nic *out,
                       shim_error **err);
/* The guest agent's network request body (uvm/guest/network.h).  */
char *pod_nic_guest_body (const struct pod_nic *nic);

#endif
