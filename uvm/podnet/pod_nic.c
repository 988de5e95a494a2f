/* See pod_nic.h.  */
#include "pod_nic.h"

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/json_reader.h"
#include "proto/base/rtnl.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/bridge/bridge.h"

static int
copy_text (char *dst, size_t cap, const char *src)
{
  return src != NULL && (size_t) snprintf (dst, cap, "%s", src) < cap ? 0 : -1;
}

void
pod_nic_scan_link (struct pod_nic_scan *s, const struct nlmsghdr *h)
{
  const struct ifinfomsg *ifi = NLMSG_DATA (h);
  if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH (sizeof *ifi)
      || s->nlinks == POD_NIC_MAX_LINKS)
    return;
  const struct rtattr *tb[IFLA_MAX + 1];
  rtnl_attrs (h, sizeof *ifi, tb, IFLA_MAX);
  const char *name = rtnl_str (tb[IFLA_IFNAME]);
  if (name == NULL)
    return;
  typeof (s->links[0]) *l = &s->links[s->nlinks];
  memset (l, 0, sizeof *l);
  if (copy_text (l->name, sizeof l->name, name) < 0)
    return;
  l->index = ifi->ifi_index;
  l->ether = ifi->ifi_type == ARPHRD_ETHER;
  if (tb[IFLA_MTU] != NULL && RTA_PAYLOAD (tb[IFLA_MTU]) == sizeof (uint32_t))
    memcpy (&l->mtu, RTA_DATA (tb[IFLA_MTU]), sizeof l->mtu);
  if (tb[IFLA_ADDRESS] != NULL && RTA_PAYLOAD (tb[IFLA_ADDRESS]) == 6)
    {
      const unsigned char *m = RTA_DATA (tb[IFLA_ADDRESS]);
      snprintf (l->mac, sizeof l->mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0],
                m[1], m[2], m[3], m[4], m[5]);
    }
  s->nlinks++;
}

void
pod_nic_scan_address (struct pod_nic_scan *s, const struct nlmsghdr *h)
{
  const struct ifaddrmsg *ifa = NLMSG_DATA (h);
  if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH (sizeof *ifa)
      || ifa->ifa_family != AF_INET)
    return;
  const struct rtattr *tb[IFA_MAX + 1];
  rtnl_attrs (h, sizeof *ifa, tb, IFA_MAX);
  /* IFA_LOCAL is the interface's own address (IFA_ADDRESS the peer's on
     point-to-point links).  */
  const struct rtattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  if (a == NULL || RTA_PAYLOAD (a) != 4)
    return;
  for (size_t i = 0; i < s->nlinks; i++)
    {
      typeof (s->links[0]) *l = &s->links[i];
      if (l->index != (int) ifa->ifa_index
          || l->naddresses == POD_NIC_MAX_ADDRESSES)
        continue;
      char text[INET_ADDRSTRLEN];
      inet_ntop (AF_INET, RTA_DATA (a), text, sizeof text);
      snprintf (l->addresses[l->naddresses++], sizeof l->addresses[0], "%s/%u",
                text, ifa->ifa_prefixlen);
    }
}

int
pod_nic_pick (const struct pod_nic_scan *s, struct pod_nic *out,
              shim_error **err)
{
  memset (out, 0, sizeof *out);
  for (size_t i = 0; i < s->nlinks; i++)
    {
      const typeof (s->links[0]) *l = &s->links[i];
      if (!l->ether || l->naddresses == 0
          || strcmp (l->name, POD_NIC_TAP) == 0)
        continue;
      if (!l->mac[0] || l->mtu == 0)
        return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                               "pod network: the interface %s has no MAC or "
                               "MTU",
                               l->name);
      memcpy (out->ifname, l->name, sizeof out->ifname);
      memcpy (out->mac, l->mac, sizeof out->mac);
      out->ifindex = l->index;
      out->mtu = l->mtu;
      out->naddresses = l->naddresses;
      memcpy (out->addresses, l->addresses, sizeof out->addresses);
      return 0;
    }
  return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                         "pod network: the namespace has no Ethernet "
                         "interface with an IPv4 address (CNI made none)");
}

void
pod_nic_add_route (struct pod_nic *nic, const struct nlmsghdr *h)
{
  const struct rtmsg *r = NLMSG_DATA (h);
  if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH (sizeof *r)
      || r->rtm_family != AF_INET || nic->nroutes == POD_NIC_MAX_ROUTES)
    return;
  const struct rtattr *tb[RTA_MAX + 1];
  rtnl_attrs (h, sizeof *r, tb, RTA_MAX);
  uint32_t table = r->rtm_table, oif = 0;
  if (tb[RTA_TABLE] != NULL && RTA_PAYLOAD (tb[RTA_TABLE]) == 4)
    memcpy (&table, RTA_DATA (tb[RTA_TABLE]), 4);
  if (tb[RTA_OIF] != NULL && RTA_PAYLOAD (tb[RTA_OIF]) == 4)
    memcpy (&oif, RTA_DATA (tb[RTA_OIF]), 4);
  if (table != RT_TABLE_MAIN || r->rtm_type != RTN_UNICAST
      || oif != (uint32_t) nic->ifindex
      || (r->rtm_dst_len > 0
          && (tb[RTA_DST] == NULL || RTA_PAYLOAD (tb[RTA_DST]) != 4)))
    return;
  char dst[INET_ADDRSTRLEN] = "", gw[INET_ADDRSTRLEN] = "";
  if (r->rtm_dst_len > 0)
    inet_ntop (AF_INET, RTA_DATA (tb[RTA_DST]), dst, sizeof dst);
  if (tb[RTA_GATEWAY] != NULL && RTA_PAYLOAD (tb[RTA_GATEWAY]) == 4)
    inet_ntop (AF_INET, RTA_DATA (tb[RTA_GATEWAY]), gw, sizeof gw);
  typeof (nic->routes[0]) *out = &nic->routes[nic->nroutes++];
  if (r->rtm_dst_len == 0)
    snprintf (out->dst, sizeof out->dst, "default");
  else
    snprintf (out->dst, sizeof out->dst, "%s/%u", dst, r->rtm_dst_len);
  snprintf (out->gateway, sizeof out->gateway, "%s", gw);
}

/* ---- JSON ------------------------------------------------------------- */

/* The members both the helper's answer and the guest's request carry.  */
static void
put_addressing (strbuf *b, const struct pod_nic *nic)
{
  strbuf_printf (b, "\"mac\":\"%s\",\"mtu\":%u,\"addresses\":[", nic->mac,
                 nic->mtu);
  for (size_t i = 0; i < nic->naddresses; i++)
    strbuf_printf (b, "%s\"%s\"", i ? "," : "", nic->addresses[i]);
  strbuf_puts (b, "],\"routes\":[");
  for (size_t i = 0; i < nic->nroutes; i++)
    {
      strbuf_printf (b, "%s{\"dst\":\"%s\"", i ? "," : "", nic->routes[i].dst);
      if (nic->routes[i].gateway[0])
        strbuf_printf (b, ",\"gateway\":\"%s\"", nic->routes[i].gateway);
      strbuf_putc (b, '}');
    }
  strbuf_putc (b, ']');
}

char *
pod_nic_to_json (const struct pod_nic *nic)
{
  strbuf b = STRBUF_INIT;
  strbuf_puts (&b, "{\"ifname\":");
  strbuf_json_string (&b, nic->ifname, strlen (nic->ifname));
  strbuf_printf (&b, ",\"ifindex\":%d,", nic->ifindex);
  put_addressing (&b, nic);
  strbuf_printf (&b, ",\"ingress_ours\":%s}",
                 nic->ingress_ours ? "true" : "false");
  return strbuf_detach (&b);
}

/* Copies the text at path into dst, or records why not.  */
static void
read_text (struct json_reader *r, char *text, const char *path, char *dst,
           size_t cap)
{
  if (text != NULL && copy_text (dst, cap, text) < 0)
    json_reader_problem (r, path, "longer than %zu bytes", cap - 1);
  free (text);
}

static void
read_routes (struct json_reader *r, const json_value *routes,
             struct pod_nic *out)
{
  for (size_t i = 0; routes != NULL && i < routes->count; i++)
    {
      char path[32];
      snprintf (path, sizeof path, "routes[%zu]", i);
      const json_value *rt
          = json_reader_want (r, routes->items[i], JSON_OBJECT, path);
      if (rt == NULL || out->nroutes == POD_NIC_MAX_ROUTES)
        continue;
      json_reader_require (r, rt, "dst", path);
      read_text (r, json_reader_string (r, rt, "dst", path), path,
                 out->routes[out->nroutes].dst, sizeof out->routes[0].dst);
      read_text (r, json_reader_string (r, rt, "gateway", path), path,
                 out->routes[out->nroutes].gateway,
                 sizeof out->routes[0].gateway);
      out->nroutes++;
    }
}

int
pod_nic_from_json (const json_value *v, struct pod_nic *out, shim_error **err)
{
  memset (out, 0, sizeof *out);
  struct json_reader r = JSON_READER_INIT;
  const json_value *o = json_reader_want (&r, v, JSON_OBJECT, "");
  if (o != NULL)
    {
      json_reader_require (&r, o, "ifname", "");
      json_reader_require (&r, o, "mac", "");
      read_text (&r, json_reader_string (&r, o, "ifname", ""), "ifname",
                 out->ifname, sizeof out->ifname);
      read_text (&r, json_reader_string (&r, o, "mac", ""), "mac", out->mac,
                 sizeof out->mac);
      out->ifindex = (int) json_reader_uint (&r, o, "ifindex", "", INT32_MAX);
      out->mtu = (uint32_t) json_reader_uint (&r, o, "mtu", "", 65535);
      out->ingress_ours = json_reader_bool (&r, o, "ingress_ours", "");
      const json_value *addrs = json_reader_want (
          &r, json_get (o, "addresses"), JSON_ARRAY, "addresses");
      for (size_t i = 0; addrs != NULL && i < addrs->count
                         && out->naddresses < POD_NIC_MAX_ADDRESSES;
           i++)
        read_text (&r, json_reader_text (&r, addrs->items[i], "addresses"),
                   "addresses", out->addresses[out->naddresses++],
                   sizeof out->addresses[0]);
      read_routes (
          &r,
          json_reader_want (&r, json_get (o, "routes"), JSON_ARRAY, "routes"),
          out);
    }
  return json_reader_finish (&r, "pod network: the helper's answer", err);
}

char *
pod_nic_guest_body (const struct pod_nic *nic)
{
  strbuf cfg = STRBUF_INIT;
  strbuf_putc (&cfg, '{');
  put_addressing (&cfg, nic);
  strbuf_putc (&cfg, '}');
  char *body = bridge_network_body (cfg.data, cfg.len);
  strbuf_release (&cfg);
  return body;
}
