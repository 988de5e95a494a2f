/* See network.h.  */
#include "network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/json.h"
#include "proto/base/json_reader.h"
#include "proto/base/xalloc.h"

static const struct json_limits config_limits = { 8, 64 * 1024 };

static int
hex_digit (char c)
{
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* "aa:bb:cc:dd:ee:ff".  */
static int
parse_mac (const char *s, unsigned char mac[6])
{
  for (int i = 0; s != NULL && i < 6; i++, s += 3)
    {
      int hi = hex_digit (s[0]), lo = hi < 0 ? -1 : hex_digit (s[1]);
      if (lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
        return -1;
      mac[i] = (unsigned char) (hi << 4 | lo);
    }
  return s == NULL ? -1 : 0;
}

/* "10.0.0.2/24" (prefix optional: 32).  */
static int
parse_cidr (const char *s, struct in_addr *addr, unsigned *prefix)
{
  char ip[INET_ADDRSTRLEN];
  const char *slash = strchr (s, '/');
  size_t n = slash ? (size_t) (slash - s) : strlen (s);
  if (n >= sizeof ip)
    return -1;
  memcpy (ip, s, n);
  ip[n] = '\0';
  if (inet_pton (AF_INET, ip, addr) != 1)
    return -1;
  *prefix = 32;
  if (slash != NULL)
    {
      char *end;
      unsigned long p = strtoul (slash + 1, &end, 10);
      if (end == slash + 1 || *end || p > 32)
        return -1;
      *prefix = (unsigned) p;
    }
  return 0;
}

int
network_config_parse (const char *json, size_t len, struct network_config *out,
                      shim_error **err)
{
  memset (out, 0, sizeof *out);
  json_value *root = json_parse (json, len, &config_limits, err);
  if (root == NULL)
    return -1;
  struct json_reader r = JSON_READER_INIT;
  if (json_reader_want (&r, root, JSON_OBJECT, "network") != NULL)
    {
      json_reader_require (&r, root, "mac", "network");
      cleanup_free char *mac = json_reader_string (&r, root, "mac", "network");
      if (mac != NULL && parse_mac (mac, out->mac) < 0)
        json_reader_problem (&r, "network.mac", "not a MAC address: %s", mac);
      out->mtu
          = (uint32_t) json_reader_uint (&r, root, "mtu", "network", 65535);
      size_t n = 0;
      char **addrs
          = json_reader_string_array (&r, root, "addresses", "network", &n);
      for (size_t i = 0; i < n; i++)
        if (out->naddresses == NETWORK_MAX_ADDRESSES
            || parse_cidr (addrs[i], &out->addresses[out->naddresses],
                           &out->prefixes[out->naddresses])
                   < 0)
          json_reader_problem (&r, "network.addresses",
                               "not one of at most %d IPv4 addresses with "
                               "their prefix: %s",
                               NETWORK_MAX_ADDRESSES, addrs[i]);
        else
          out->naddresses++;
      for (size_t i = 0; i < n; i++)
        free (addrs[i]);
      free (addrs);
      const json_value *routes = json_reader_want (
          &r, json_get (root, "routes"), JSON_ARRAY, "network.routes");
      for (size_t i = 0; routes != NULL && i < routes->count; i++)
        {
          cleanup_free char *p = xasprintf ("network.routes[%zu]", i);
          const json_value *o
              = json_reader_want (&r, routes->items[i], JSON_OBJECT, p);
          if (o == NULL)
            continue;
          if (out->nroutes == NETWORK_MAX_ROUTES)
            {
              json_reader_problem (&r, p, "more than %d routes",
                                   NETWORK_MAX_ROUTES);
              break;
            }
          struct network_route *rt = &out->routes[out->nroutes];
          json_reader_require (&r, o, "dst", p);
          cleanup_free char *dst = json_reader_string (&r, o, "dst", p);
          cleanup_free char *gw = json_reader_string (&r, o, "gateway", p);
          unsigned gw_len;
          if (dst != NULL && strcmp (dst, "default") != 0
              && parse_cidr (dst, &rt->dst, &rt->dst_len) < 0)
            json_reader_problem (&r, p, "dst is not an IPv4 network: %s", dst);
          else if (gw != NULL
                   && (parse_cidr (gw, &rt->gateway, &gw_len) < 0
                       || gw_len != 32))
            json_reader_problem (&r, p, "gateway is not an IPv4 address: %s",
                                 gw);
          else if (dst != NULL)
            {
              rt->has_gateway = gw != NULL;
              out->nroutes++;
            }
        }
    }
  json_free (root);
  return json_reader_finish (&r, "", err);
}

/* ---- netlink -------------------------------------------------------------
 */

/* One request: a netlink header, its message and attributes.  */
struct nl_request
{
  _Alignas(struct nlmsghdr) char buf[512];
  struct nlmsghdr *h;
};

static void
nl_start (struct nl_request *q, unsigned short type, unsigned short flags,
          size_t message)
{
  memset (q->buf, 0, sizeof q->buf);
  q->h = (struct nlmsghdr *) q->buf;
  q->h->nlmsg_len = NLMSG_LENGTH (message);
  q->h->nlmsg_type = type;
  q->h->nlmsg_flags = flags;
}

static void
add_attr (struct nl_request *q, unsigned short type, const void *data,
          size_t len)
{
  size_t at = NLMSG_ALIGN (q->h->nlmsg_len);
  if (at + RTA_SPACE (len) > sizeof q->buf)
    abort (); /* the callers' attributes fit by construction */
  struct rtattr *a = (struct rtattr *) (q->buf + at);
  a->rta_type = type;
  a->rta_len = (unsigned short) RTA_LENGTH (len);
  memcpy (q->buf + at + RTA_LENGTH (0), data, len);
  q->h->nlmsg_len = (uint32_t) (at + RTA_ALIGN (a->rta_len));
}

/* Sends q and waits for its acknowledgement; 0, or -1 with errno (EEXIST
   is success: the kernel made it already).  */
static int
nl_talk (int fd, struct nl_request *q)
{
  static uint32_t seq;
  q->h->nlmsg_seq = ++seq;
  q->h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  if (send (fd, q->buf, q->h->nlmsg_len, 0) < 0)
    return -1;
  char buf[4096];
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      if (n < 0)
        return -1;
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf;
           NLMSG_OK (h, (unsigned) n); h = NLMSG_NEXT (h, n))
        if (h->nlmsg_seq == q->h->nlmsg_seq && h->nlmsg_type == NLMSG_ERROR)
          {
            const struct nlmsgerr *e = NLMSG_DATA (h);
            if (e->error == 0 || e->error == -EEXIST)
              return 0;
            errno = -e->error;
            return -1;
          }
    }
}

static int
link_up (int fd, int ifindex, uint32_t mtu)
{
  struct nl_request q;
  nl_start (&q, RTM_NEWLINK, 0, sizeof (struct ifinfomsg));
  struct ifinfomsg *i = NLMSG_DATA (q.h);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = ifindex;
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  if (mtu != 0)
    add_attr (&q, IFLA_MTU, &mtu, sizeof mtu);
  return nl_talk (fd, &q);
}

static int
add_address (int fd, int ifindex, struct in_addr addr, unsigned prefix)
{
  struct nl_request q;
  nl_start (&q, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
            sizeof (struct ifaddrmsg));
  struct ifaddrmsg *a = NLMSG_DATA (q.h);
  a->ifa_family = AF_INET;
  a->ifa_prefixlen = (unsigned char) prefix;
  a->ifa_scope = RT_SCOPE_UNIVERSE;
  a->ifa_index = (unsigned) ifindex;
  add_attr (&q, IFA_LOCAL, &addr, sizeof addr);
  add_attr (&q, IFA_ADDRESS, &addr, sizeof addr);
  return nl_talk (fd, &q);
}

static int
add_route (int fd, int ifindex, const struct network_route *rt)
{
  struct nl_request q;
  nl_start (&q, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
            sizeof (struct rtmsg));
  struct rtmsg *m = NLMSG_DATA (q.h);
  m->rtm_family = AF_INET;
  m->rtm_dst_len = (unsigned char) rt->dst_len;
  m->rtm_table = RT_TABLE_MAIN;
  m->rtm_protocol = RTPROT_BOOT;
  m->rtm_scope = rt->has_gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  m->rtm_type = RTN_UNICAST;
  if (rt->dst_len > 0)
    add_attr (&q, RTA_DST, &rt->dst, sizeof rt->dst);
  if (rt->has_gateway)
    add_attr (&q, RTA_GATEWAY, &rt->gateway, sizeof rt->gateway);
  uint32_t oif = (uint32_t) ifindex;
  add_attr (&q, RTA_OIF, &oif, sizeof oif);
  return nl_talk (fd, &q);
}

/* The interface with that MAC, by /sys/class/net/<name>/address.  */
static int
find_nic (const unsigned char mac[6])
{
  DIR *d = opendir ("/sys/class/net");
  int index = 0;
  struct dirent *de;
  while (d != NULL && index == 0 && (de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      char path[300], text[32] = "";
      unsigned char found[6];
      snprintf (path, sizeof path, "/sys/class/net/%s/address", de->d_name);
      FILE *f = fopen (path, "re");
      if (f != NULL && fgets (text, sizeof text, f) != NULL
          && parse_mac (strtok (text, "\n"), found) == 0
          && memcmp (found, mac, 6) == 0)
        index = (int) if_nametoindex (de->d_name);
      if (f != NULL)
        fclose (f);
    }
  if (d != NULL)
    closedir (d);
  return index;
}

int
network_config_apply (const struct network_config *c, shim_error **err)
{
  int nic = find_nic (c->mac);
  if (nic == 0)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "network: no NIC with MAC "
                           "%02x:%02x:%02x:%02x:%02x:%02x in the guest",
                           c->mac[0], c->mac[1], c->mac[2], c->mac[3],
                           c->mac[4], c->mac[5]);
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "network: netlink");
  const char *what = NULL;
  if (link_up (fd, (int) if_nametoindex ("lo"), 0) < 0)
    what = "lo up";
  else if (link_up (fd, nic, c->mtu) < 0)
    what = "NIC up";
  for (size_t i = 0; what == NULL && i < c->naddresses; i++)
    if (add_address (fd, nic, c->addresses[i], c->prefixes[i]) < 0)
      what = "address";
  /* Routes to the link first, then those through a gateway.  */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; what == NULL && i < c->nroutes; i++)
      if (c->routes[i].has_gateway == pass
          && add_route (fd, nic, &c->routes[i]) < 0)
        what = "route";
  int saved = errno;
  close (fd);
  if (what != NULL)
    return shim_error_errno (err, GRPC_INTERNAL, saved, "network: %s", what);
  return 0;
}
