/* See network.h.  */
#include "network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/json.h"
#include "proto/base/json_reader.h"
#include "proto/base/rtnl.h"
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

/* ---- netlink (proto/base/rtnl.h) ------------------------------------- */

/* EEXIST is success: the kernel made it already.  */
static int
talk (int fd, struct rtnl_msg *m)
{
  return rtnl_talk (fd, m) < 0 && errno != EEXIST ? -1 : 0;
}

static int
add_address (int fd, int ifindex, struct in_addr addr, unsigned prefix)
{
  struct rtnl_msg m;
  struct ifaddrmsg *a
      = rtnl_start (&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *a);
  a->ifa_family = AF_INET;
  a->ifa_prefixlen = (unsigned char) prefix;
  a->ifa_scope = RT_SCOPE_UNIVERSE;
  a->ifa_index = (unsigned) ifindex;
  rtnl_put (&m, IFA_LOCAL, &addr, sizeof addr);
  rtnl_put (&m, IFA_ADDRESS, &addr, sizeof addr);
  return talk (fd, &m);
}

static int
add_route (int fd, int ifindex, const struct network_route *rt)
{
  struct rtnl_msg m;
  struct rtmsg *r
      = rtnl_start (&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *r);
  r->rtm_family = AF_INET;
  r->rtm_dst_len = (unsigned char) rt->dst_len;
  r->rtm_table = RT_TABLE_MAIN;
  r->rtm_protocol = RTPROT_BOOT;
  r->rtm_scope = rt->has_gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  r->rtm_type = RTN_UNICAST;
  if (rt->dst_len > 0)
    rtnl_put (&m, RTA_DST, &rt->dst, sizeof rt->dst);
  if (rt->has_gateway)
    rtnl_put (&m, RTA_GATEWAY, &rt->gateway, sizeof rt->gateway);
  rtnl_put_u32 (&m, RTA_OIF, (uint32_t) ifindex);
  return talk (fd, &m);
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
  int fd = rtnl_open ();
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "network: netlink");
  const char *what = NULL;
  if (rtnl_link_up (fd, (int) if_nametoindex ("lo"), 0) < 0)
    what = "lo up";
  else if (rtnl_link_up (fd, nic, c->mtu) < 0)
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
