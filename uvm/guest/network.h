/* The pod's NIC in the guest: the host sends what CNI gave the pod's
   network namespace (the interface's MAC and MTU, its IPv4 addresses and
   routes), and the agent sets them on the virtio-net device with that MAC
   over netlink, with lo up, before any container starts.  Containers share
   the UVM's network namespace, which is thereby the pod's.  */
#ifndef LCOW_UVM_GUEST_NETWORK_H
#define LCOW_UVM_GUEST_NETWORK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"

#define NETWORK_MAX_ADDRESSES 8
#define NETWORK_MAX_ROUTES 32

struct network_route
{
  struct in_addr dst;
  unsigned dst_len; /* 0: the default route */
  struct in_addr gateway;
  int has_gateway;
};

struct network_config
{
  unsigned char mac[6];
  uint32_t mtu;
  struct in_addr addresses[NETWORK_MAX_ADDRESSES];
  unsigned prefixes[NETWORK_MAX_ADDRESSES];
  size_t naddresses;
  struct network_route routes[NETWORK_MAX_ROUTES];
  size_t nroutes;
};

/* Pure: {"mac":"aa:bb:..","mtu":N,"addresses":["10.0.0.2/24",...],
   "routes":[{"dst":"default"|"10.0.0.0/24","gateway":"10.0.0.1"},...]};
   InvalidArgument naming every bad member.  */
int network_config_parse (const char *json, size_t len,
                          struct network_config *out, shim_error **err);
/* Sets it up (the NIC found by its MAC under /sys/class/net).  */
int network_config_apply (const struct network_config *c, shim_error **err);

#endif
