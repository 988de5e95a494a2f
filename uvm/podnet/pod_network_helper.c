/* See pod_network_helper.h.  */
#include "pod_network_helper.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pod_nic.h"
#include "proto/base/cleanup.h"
#include "proto/base/go_parse.h"
#include "proto/base/rtnl.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/helper/helper_run.h"

#define INGRESS_HANDLE 0xFFFF0000u

/* The host's own namespace is no pod's: redirecting its interface into
   the VM would take the host off its network, and tearing down there
   would touch the host's.  */
static int
enter_pod_netns (const char *netns_path, shim_error **err)
{
  struct stat pod, host;
  if (stat ("/proc/self/ns/net", &host) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "/proc/self/ns/net");
  int fd = open (netns_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &pod) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return shim_error_errno (err, GRPC_FAILED_PRECONDITION, e,
                               "pod network: namespace %s", netns_path);
    }
  if (pod.st_dev == host.st_dev && pod.st_ino == host.st_ino)
    {
      close (fd);
      return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                             "pod network: %s is the host's network "
                             "namespace, not a pod's",
                             netns_path);
    }
  int r = setns (fd, CLONE_NEWNET);
  int e = errno;
  close (fd);
  if (r < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, e,
                             "pod network: enter %s", netns_path);
  return 0;
}

/* ---- reading the namespace --------------------------------------------- */

static int
scan_link (void *data, const struct nlmsghdr *h)
{
  pod_nic_scan_link (data, h);
  return 0;
}

static int
scan_address (void *data, const struct nlmsghdr *h)
{
  pod_nic_scan_address (data, h);
  return 0;
}

static int
add_route (void *data, const struct nlmsghdr *h)
{
  pod_nic_add_route (data, h);
  return 0;
}

struct ingress_seen
{
  int ifindex;
  bool found;
};

static int
find_ingress (void *data, const struct nlmsghdr *h)
{
  struct ingress_seen *s = data;
  const struct tcmsg *t = NLMSG_DATA (h);
  if (h->nlmsg_type != RTM_NEWQDISC || h->nlmsg_len < NLMSG_LENGTH (sizeof *t)
      || t->tcm_ifindex != s->ifindex)
    return 0;
  const struct rtattr *tb[TCA_MAX + 1];
  rtnl_attrs (h, sizeof *t, tb, TCA_MAX);
  const char *kind = rtnl_str (tb[TCA_KIND]);
  s->found = s->found || (kind != NULL && strcmp (kind, "ingress") == 0);
  return 0;
}

/* Sends a dump request of that type for an address family.  */
static int
dump (int fd, uint16_t type, size_t family_len, unsigned char family,
      rtnl_dump_fn fn, void *data)
{
  struct rtnl_msg m;
  unsigned char *f = rtnl_start (&m, type, 0, family_len);
  /* Every family header starts with its family byte.  */
  f[0] = family;
  return rtnl_dump (fd, &m, fn, data);
}

static int
read_nic (int fd, struct pod_nic *nic, shim_error **err)
{
  struct pod_nic_scan *scan = xzalloc (sizeof *scan);
  int r = dump (fd, RTM_GETLINK, sizeof (struct ifinfomsg), AF_UNSPEC,
                scan_link, scan);
  if (r == 0)
    r = dump (fd, RTM_GETADDR, sizeof (struct ifaddrmsg), AF_INET,
              scan_address, scan);
  if (r < 0)
    r = shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                          "pod network: read the namespace's interfaces");
  else
    r = pod_nic_pick (scan, nic, err);
  free (scan);
  if (r < 0)
    return -1;
  struct ingress_seen seen = { nic->ifindex, false };
  if (dump (fd, RTM_GETROUTE, sizeof (struct rtmsg), AF_INET, add_route, nic)
          < 0
      || dump (fd, RTM_GETQDISC, sizeof (struct tcmsg), AF_UNSPEC,
               find_ingress, &seen)
             < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "pod network: read the routes and qdiscs of %s",
                             nic->ifname);
  nic->ingress_ours = !seen.found;
  return 0;
}

/* ---- changing it ---------------------------------------------------------
 */

/* A persistent TAP owned by uid, as `ip tuntap add ... user UID` makes it:
   the VMM opens it by name without privileges.  */
static int
make_tap (uid_t uid)
{
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", POD_NIC_TAP);
  int r = ioctl (fd, TUNSETIFF, &ifr) < 0
                  || ioctl (fd, TUNSETOWNER, (unsigned long) uid) < 0
                  || ioctl (fd, TUNSETPERSIST, 1ul) < 0
              ? -1
              : 0;
  int e = errno;
  close (fd);
  errno = e;
  return r;
}

static struct tcmsg *
tc_start (struct rtnl_msg *m, uint16_t type, uint16_t flags, int ifindex)
{
  struct tcmsg *t = rtnl_start (m, type, flags, sizeof *t);
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = ifindex;
  return t;
}

/* `tc qdisc add|del dev IF ingress`.  */
static int
ingress_qdisc (int fd, uint16_t type, int ifindex)
{
  struct rtnl_msg m;
  struct tcmsg *t = tc_start (
      &m, type, type == RTM_NEWQDISC ? NLM_F_CREATE | NLM_F_EXCL : 0, ifindex);
  t->tcm_handle = INGRESS_HANDLE;
  t->tcm_parent = TC_H_INGRESS;
  rtnl_put_str (&m, TCA_KIND, "ingress");
  return rtnl_talk (fd, &m);
}

/* `tc filter add dev FROM parent ffff: pref 49152 protocol all u32 match
   u8 0 0 action mirred egress redirect dev TO`.  */
static int
add_redirect (int fd, int from, int to)
{
  struct rtnl_msg m;
  struct tcmsg *t
      = tc_start (&m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, from);
  t->tcm_parent = INGRESS_HANDLE;
  t->tcm_info = TC_H_MAKE (POD_NIC_FILTER_PREF << 16, htons (ETH_P_ALL));
  rtnl_put_str (&m, TCA_KIND, "u32");
  struct rtattr *options = rtnl_nest_begin (&m, TCA_OPTIONS);
  /* One key that matches every packet: mask 0 at offset 0.  */
  _Alignas(struct tc_u32_sel) unsigned char
      sel[sizeof (struct tc_u32_sel) + sizeof (struct tc_u32_key)]
      = { 0 };
  struct tc_u32_sel *selector = (struct tc_u32_sel *) sel;
  selector->flags = TC_U32_TERMINAL;
  selector->nkeys = 1;
  rtnl_put (&m, TCA_U32_SEL, sel, sizeof sel);
  struct rtattr *actions = rtnl_nest_begin (&m, TCA_U32_ACT);
  struct rtattr *first = rtnl_nest_begin (&m, 1);
  rtnl_put_str (&m, TCA_ACT_KIND, "mirred");
  struct rtattr *act_options = rtnl_nest_begin (&m, TCA_ACT_OPTIONS);
  struct tc_mirred mirred = { .action = TC_ACT_STOLEN,
                              .eaction = TCA_EGRESS_REDIR,
                              .ifindex = (uint32_t) to };
  rtnl_put (&m, TCA_MIRRED_PARMS, &mirred, sizeof mirred);
  rtnl_nest_end (&m, act_options);
  rtnl_nest_end (&m, first);
  rtnl_nest_end (&m, actions);
  rtnl_nest_end (&m, options);
  return rtnl_talk (fd, &m);
}

/* `tc filter del dev IF parent ffff: pref 49152`.  */
static int
del_redirect (int fd, int ifindex)
{
  struct rtnl_msg m;
  struct tcmsg *t = tc_start (&m, RTM_DELTFILTER, 0, ifindex);
  t->tcm_parent = INGRESS_HANDLE;
  t->tcm_info = TC_H_MAKE (POD_NIC_FILTER_PREF << 16, 0);
  return rtnl_talk (fd, &m);
}

static int
del_link (int fd, int ifindex)
{
  struct rtnl_msg m;
  struct ifinfomsg *i = rtnl_start (&m, RTM_DELLINK, 0, sizeof *i);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = ifindex;
  return rtnl_talk (fd, &m);
}

/* What disconnect removes; each missing one is fine.  removed lists what
   was there.  */
static void
tear_down (int fd, int ifindex, bool ingress_ours, strbuf *removed)
{
  int tap = (int) if_nametoindex (POD_NIC_TAP);
  if (tap > 0 && del_link (fd, tap) == 0)
    strbuf_printf (removed, "%s\"tap\"", removed->len ? "," : "");
  if (ifindex > 0 && del_redirect (fd, ifindex) == 0)
    strbuf_printf (removed, "%s\"filter\"", removed->len ? "," : "");
  if (ifindex > 0 && ingress_ours
      && ingress_qdisc (fd, RTM_DELQDISC, ifindex) == 0)
    strbuf_printf (removed, "%s\"qdisc\"", removed->len ? "," : "");
}

static int
connect_tap (int fd, uid_t uid, struct pod_nic *nic, shim_error **err)
{
  const char *step = "make the TAP";
  int tap = 0;
  /* The interface's qdisc is removed on failure only once the shim made
     it: one that is there already is CNI's.  */
  bool qdisc_made = false;
  if (make_tap (uid) == 0 && (tap = (int) if_nametoindex (POD_NIC_TAP)) > 0
      && (step = "set the TAP up", rtnl_link_up (fd, tap, nic->mtu) == 0)
      && (step = "add an ingress qdisc to the interface",
          !nic->ingress_ours
              || (qdisc_made
                  = ingress_qdisc (fd, RTM_NEWQDISC, nic->ifindex) == 0))
      && (step = "add an ingress qdisc to the TAP",
          ingress_qdisc (fd, RTM_NEWQDISC, tap) == 0)
      && (step = "redirect the interface to the TAP",
          add_redirect (fd, nic->ifindex, tap) == 0)
      && (step = "redirect the TAP to the interface",
          add_redirect (fd, tap, nic->ifindex) == 0))
    return 0;
  int e = errno;
  strbuf removed = STRBUF_INIT;
  tear_down (fd, nic->ifindex, qdisc_made, &removed);
  strbuf_release (&removed);
  return shim_error_errno (err, GRPC_FAILED_PRECONDITION, e,
                           "pod network: %s (%s, %s)", step, nic->ifname,
                           POD_NIC_TAP);
}

static int
run (int argc, char **argv, strbuf *answer, shim_error **err)
{
  bool connect = argc == 4 && strcmp (argv[1], "connect") == 0;
  bool disconnect = argc == 5 && strcmp (argv[1], "disconnect") == 0;
  uint64_t uid = 0;
  if ((!connect && !disconnect)
      || (connect && go_parse_uint (argv[3], 32, &uid) < 0))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "usage: %s connect NETNS UID | disconnect NETNS "
                           "IFNAME true|false",
                           POD_NETWORK_COMMAND);
  if (enter_pod_netns (argv[2], err) < 0)
    return -1;
  int fd = rtnl_open ();
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "pod network: netlink");
  int r = 0;
  if (connect)
    {
      struct pod_nic nic;
      r = read_nic (fd, &nic, err) < 0
                  || connect_tap (fd, (uid_t) uid, &nic, err) < 0
              ? -1
              : 0;
      if (r == 0)
        {
          char *json = pod_nic_to_json (&nic);
          strbuf_puts (answer, json);
          free (json);
        }
    }
  else
    {
      strbuf removed = STRBUF_INIT;
      tear_down (fd, (int) if_nametoindex (argv[3]),
                 strcmp (argv[4], "true") == 0, &removed);
      strbuf_printf (answer, "{\"removed\":[%s]}",
                     removed.data ? removed.data : "");
      strbuf_release (&removed);
    }
  close (fd);
  return r;
}

int
pod_network_main (int argc, char **argv)
{
  strbuf answer = STRBUF_INIT;
  shim_error *err = NULL;
  int r = run (argc, argv, &answer, &err);
  if (r < 0)
    helper_answer_error (stdout, err);
  else
    printf ("%s\n", answer.data);
  shim_error_free (err);
  strbuf_release (&answer);
  return fflush (stdout) == 0 && r == 0 ? 0 : 1;
}
