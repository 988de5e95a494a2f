/* See pod_network.h.  */
#include "pod_network.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/base/json.h"
#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* What `ip -json` prints for a namespace is small.  */
#define IP_OUTPUT_MAX (256 * 1024)

static const struct json_limits ip_limits = { 16, 4 * IP_OUTPUT_MAX };

static const char *
member_string (const json_value *o, const char *key)
{
  const json_value *v = json_get (o, key);
  return v != NULL && v->type == JSON_STRING ? v->str : NULL;
}

/* The first Ethernet link (not the TAP) with an IPv4 address.  */
static const json_value *
pick_link (const json_value *links)
{
  for (size_t i = 0; links->type == JSON_ARRAY && i < links->count; i++)
    {
      const json_value *l = links->items[i];
      const char *type = member_string (l, "link_type");
      const char *name = member_string (l, "ifname");
      const json_value *addrs = json_get (l, "addr_info");
      if (type == NULL || strcmp (type, "ether") != 0 || name == NULL
          || strcmp (name, POD_NIC_TAP) == 0 || addrs == NULL
          || addrs->type != JSON_ARRAY)
        continue;
      for (size_t k = 0; k < addrs->count; k++)
        {
          const char *family = member_string (addrs->items[k], "family");
          if (family != NULL && strcmp (family, "inet") == 0)
            return l;
        }
    }
  return NULL;
}

static int
copy_text (char *dst, size_t cap, const char *src)
{
  return src != NULL && (size_t) snprintf (dst, cap, "%s", src) < cap ? 0 : -1;
}

static int
read_link (const json_value *l, struct pod_nic *out, shim_error **err)
{
  const json_value *mtu = json_get (l, "mtu");
  if (copy_text (out->ifname, sizeof out->ifname, member_string (l, "ifname"))
          < 0
      || copy_text (out->mac, sizeof out->mac, member_string (l, "address"))
             < 0
      || mtu == NULL || mtu->type != JSON_NUMBER)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "pod network: the interface has no name, MAC or "
                           "MTU");
  out->mtu = (uint32_t) strtoul (mtu->str, NULL, 10);
  const json_value *addrs = json_get (l, "addr_info");
  for (size_t k = 0; k < addrs->count; k++)
    {
      const json_value *a = addrs->items[k];
      const char *family = member_string (a, "family");
      const char *local = member_string (a, "local");
      const json_value *prefix = json_get (a, "prefixlen");
      if (family == NULL || strcmp (family, "inet") != 0 || local == NULL
          || prefix == NULL || prefix->type != JSON_NUMBER
          || out->naddresses == POD_NIC_MAX_ADDRESSES)
        continue;
      snprintf (out->addresses[out->naddresses++], sizeof out->addresses[0],
                "%s/%s", local, prefix->str);
    }
  return 0;
}

int
pod_nic_parse (const char *addr_json, size_t addr_len, const char *route_json,
               size_t route_len, struct pod_nic *out, shim_error **err)
{
  memset (out, 0, sizeof *out);
  json_value *links = json_parse (addr_json, addr_len, &ip_limits, err);
  if (links == NULL)
    return shim_error_wrap (err, "pod network: ip addr");
  json_value *routes = json_parse (route_json, route_len, &ip_limits, err);
  if (routes == NULL)
    {
      json_free (links);
      return shim_error_wrap (err, "pod network: ip route");
    }
  const json_value *l = pick_link (links);
  int r = 0;
  if (l == NULL)
    r = shim_error_set (err, GRPC_FAILED_PRECONDITION,
                        "pod network: the namespace has no Ethernet "
                        "interface with an IPv4 address (CNI made none)");
  else
    r = read_link (l, out, err);
  for (size_t i = 0; r == 0 && routes->type == JSON_ARRAY && i < routes->count;
       i++)
    {
      const json_value *rt = routes->items[i];
      const char *dev = member_string (rt, "dev");
      const char *dst = member_string (rt, "dst");
      const char *gw = member_string (rt, "gateway");
      if (dev == NULL || strcmp (dev, out->ifname) != 0 || dst == NULL
          || out->nroutes == POD_NIC_MAX_ROUTES || strchr (dst, ':') != NULL)
        continue;
      if (copy_text (out->routes[out->nroutes].dst, sizeof out->routes[0].dst,
                     dst)
              == 0
          && (gw == NULL
              || copy_text (out->routes[out->nroutes].gateway,
                            sizeof out->routes[0].gateway, gw)
                     == 0))
        out->nroutes++;
    }
  json_free (links);
  json_free (routes);
  return r;
}

bool
pod_nic_has_ingress (const char *tc_json, size_t len)
{
  json_value *qdiscs = json_parse (tc_json, len, &ip_limits, NULL);
  bool found = false;
  for (size_t i = 0;
       qdiscs != NULL && qdiscs->type == JSON_ARRAY && i < qdiscs->count; i++)
    {
      const char *kind = member_string (qdiscs->items[i], "kind");
      found = found || (kind != NULL && strcmp (kind, "ingress") == 0);
    }
  json_free (qdiscs);
  return found;
}

char *
pod_nic_guest_body (const struct pod_nic *nic)
{
  strbuf cfg = STRBUF_INIT;
  strbuf_printf (&cfg, "{\"mac\":\"%s\",\"mtu\":%u,\"addresses\":[", nic->mac,
                 nic->mtu);
  for (size_t i = 0; i < nic->naddresses; i++)
    strbuf_printf (&cfg, "%s\"%s\"", i ? "," : "", nic->addresses[i]);
  strbuf_puts (&cfg, "],\"routes\":[");
  for (size_t i = 0; i < nic->nroutes; i++)
    {
      strbuf_printf (&cfg, "%s{\"dst\":\"%s\"", i ? "," : "",
                     nic->routes[i].dst);
      if (nic->routes[i].gateway[0])
        strbuf_printf (&cfg, ",\"gateway\":\"%s\"", nic->routes[i].gateway);
      strbuf_putc (&cfg, '}');
    }
  strbuf_puts (&cfg, "]}");
  strbuf body = STRBUF_INIT;
  strbuf_puts (&body, "{\"type\":\"network\",\"spec\":");
  strbuf_json_string (&body, cfg.data, cfg.len);
  strbuf_putc (&body, '}');
  strbuf_release (&cfg);
  return strbuf_detach (&body);
}

/* ---- in the namespace ------------------------------------------------- */

/* Runs argv (at most 28 words) in the namespace with nsenter; its stdout
   in *out when out is not NULL.  0 when it exited 0.  */
static int
run_in_netns (const char *netns_path, const char *const *argv, strbuf *out)
{
  char *netns_arg = xasprintf ("--net=%s", netns_path);
  const char *full[32] = { "nsenter", netns_arg };
  size_t n = 2;
  for (size_t i = 0; argv[i] != NULL && n < 31; i++)
    full[n++] = argv[i];
  full[n] = NULL;
  int pipefd[2] = { -1, -1 };
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out != NULL && pipe2 (pipefd, O_CLOEXEC) == 0)
    posix_spawn_file_actions_adddup2 (&fa, pipefd[1], 1);
  else
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  extern char **environ;
  int r = posix_spawnp (&pid, "nsenter", &fa, NULL, (char *const *) full,
                        environ);
  posix_spawn_file_actions_destroy (&fa);
  free (netns_arg);
  if (pipefd[1] >= 0)
    close (pipefd[1]);
  if (r != 0)
    {
      if (pipefd[0] >= 0)
        close (pipefd[0]);
      errno = r;
      return -1;
    }
  char buf[4096];
  ssize_t got;
  while (pipefd[0] >= 0 && (got = read (pipefd[0], buf, sizeof buf)) != 0)
    if (got > 0 && out->len + (size_t) got <= IP_OUTPUT_MAX)
      strbuf_append (out, buf, (size_t) got);
    else if (got < 0 && errno != EINTR)
      break;
  if (pipefd[0] >= 0)
    close (pipefd[0]);
  int status = 0;
  pid_t waited;
  while ((waited = waitpid (pid, &status, 0)) < 0 && errno == EINTR)
    ;
  if (waited < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      errno = EIO;
      return -1;
    }
  return 0;
}

/* The host's own namespace is no pod's: redirecting its interface into
   the VM would take the host off its network, and tearing down there
   would touch the host's.  */
static int
check_pod_netns (const char *netns_path, shim_error **err)
{
  struct stat pod, host;
  if (stat (netns_path, &pod) < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "pod network: namespace %s", netns_path);
  if (stat ("/proc/self/ns/net", &host) == 0 && pod.st_dev == host.st_dev
      && pod.st_ino == host.st_ino)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "pod network: %s is the host's network namespace, "
                           "not a pod's",
                           netns_path);
  return 0;
}

int
pod_network_connect (const char *netns_path, uid_t vmm_uid,
                     struct pod_nic *out, shim_error **err)
{
  if (check_pod_netns (netns_path, err) < 0)
    return -1;
  strbuf addrs = STRBUF_INIT, routes = STRBUF_INIT, qdiscs = STRBUF_INIT;
  int r;
  if (run_in_netns (
          netns_path,
          (const char *const[]){ "ip", "-json", "addr", "show", NULL }, &addrs)
          < 0
      || run_in_netns (netns_path,
                       (const char *const[]){ "ip", "-json", "-4", "route",
                                              "show", NULL },
                       &routes)
             < 0)
    r = shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                          "pod network: read the namespace %s", netns_path);
  else
    r = pod_nic_parse (addrs.data, addrs.len, routes.data, routes.len, out,
                       err);
  if (r == 0
      && run_in_netns (netns_path,
                       (const char *const[]){ "tc", "-json", "qdisc", "show",
                                              "dev", out->ifname, "ingress",
                                              NULL },
                       &qdiscs)
             < 0)
    r = shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                          "pod network: read the qdiscs of %s in %s",
                          out->ifname, netns_path);
  out->ingress_ours = r == 0 && !pod_nic_has_ingress (qdiscs.data, qdiscs.len);
  strbuf_release (&addrs);
  strbuf_release (&routes);
  strbuf_release (&qdiscs);
  if (r < 0)
    return -1;
  char uid[16], mtu[16];
  snprintf (uid, sizeof uid, "%u", (unsigned) vmm_uid);
  snprintf (mtu, sizeof mtu, "%u", out->mtu);
  const char *const steps[][24] = {
    { "ip", "tuntap", "add", "dev", POD_NIC_TAP, "mode", "tap", "user", uid,
      NULL },
    { "ip", "link", "set", POD_NIC_TAP, "mtu", mtu, "up", NULL },
    { "tc", "qdisc", "add", "dev", out->ifname, "ingress", NULL },
    { "tc", "qdisc", "add", "dev", POD_NIC_TAP, "ingress", NULL },
    { "tc",        "filter",    "add",
      "dev",       out->ifname, "parent",
      "ffff:",     "pref",      POD_NIC_FILTER_PREF,
      "protocol",  "all",       "u32",
      "match",     "u8",        "0",
      "0",         "action",    "mirred",
      "egress",    "redirect",  "dev",
      POD_NIC_TAP, NULL },
    { "tc",    "filter",    "add",    "dev",    POD_NIC_TAP, "parent",
      "ffff:", "protocol",  "all",    "u32",    "match",     "u8",
      "0",     "0",         "action", "mirred", "egress",    "redirect",
      "dev",   out->ifname, NULL },
  };
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if ((i != 2 || out->ingress_ours)
        && run_in_netns (netns_path, steps[i], NULL) < 0)
      {
        out->ingress_ours = out->ingress_ours && i > 2;
        pod_network_disconnect (netns_path, out);
        return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                                 "pod network: %s %s %s in %s", steps[i][0],
                                 steps[i][1], steps[i][2], netns_path);
      }
  return 0;
}

void
pod_network_disconnect (const char *netns_path, const struct pod_nic *nic)
{
  shim_error *err = NULL;
  if (check_pod_netns (netns_path, &err) < 0)
    {
      log_warn ("pod network teardown skipped: %s", err->msg);
      shim_error_free (err);
      return;
    }
  run_in_netns (
      netns_path,
      (const char *const[]){ "ip", "link", "del", POD_NIC_TAP, NULL }, NULL);
  if (!nic->ifname[0])
    return;
  run_in_netns (netns_path,
                (const char *const[]){ "tc", "filter", "del", "dev",
                                       nic->ifname, "parent", "ffff:", "pref",
                                       POD_NIC_FILTER_PREF, NULL },
                NULL);
  if (nic->ingress_ours)
    run_in_netns (netns_path,
                  (const char *const[]){ "tc", "qdisc", "del", "dev",
                                         nic->ifname, "ingress", NULL },
                  NULL);
}
