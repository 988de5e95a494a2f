/* The pod-network helper: the shim's own executable run as
     containerd-shim-lcow-v2 pod-network connect NETNS UID
     containerd-shim-lcow-v2 pod-network disconnect NETNS IFNAME OURS
   by pod_network.c (uvm/helper/helper_run.h), never on the loop.  It
   enters the namespace and speaks rtnetlink there (proto/base/rtnl.h):
   connect reads the pod's interface, makes the TAP for the VMM's uid and
   joins the two with tc ingress redirects both ways (u32 match-all,
   mirred egress redirect), then answers the interface (pod_nic.h's JSON);
   disconnect removes the TAP, the shim's filter on the interface and, when
   OURS is "true", the ingress qdisc the shim made there, and answers
   {"removed": [...]}.  Either refuses the host's own namespace.  */
#ifndef LCOW_UVM_PODNET_POD_NETWORK_HELPER_H
#define LCOW_UVM_PODNET_POD_NETWORK_HELPER_H

#define POD_NETWORK_COMMAND "pod-network"
/* The priority of the shim's redirect on CNI's interface (and on the
   TAP): what teardown removes there, and nothing else of CNI's.  */
#define POD_NIC_FILTER_PREF 49152u

/* argv[0] is POD_NETWORK_COMMAND.  The answer on stdout; 0 or 1.  */
int pod_network_main (int argc, char **argv);

#endif
