/* See pod_network.h.  */
#include "pod_network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pod_network_helper.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/helper/helper_run.h"

struct connect_call
{
  pod_network_connected_fn done;
  void *data;
};

static void
on_connected (void *data, const json_value *answer, const shim_error *err)
{
  struct connect_call *c = data;
  struct pod_nic nic = { 0 };
  shim_error *bad = NULL;
  if (err == NULL && pod_nic_from_json (answer, &nic, &bad) < 0)
    err = bad;
  c->done (c->data, err == NULL ? &nic : NULL, err);
  shim_error_free (bad);
  free (c);
}

int
pod_network_connect (uv_loop_t *loop, const char *helper_exe,
                     const char *netns_path, uid_t vmm_uid,
                     pod_network_connected_fn done, void *data,
                     shim_error **err)
{
  char uid[16];
  snprintf (uid, sizeof uid, "%u", (unsigned) vmm_uid);
  char *const argv[] = { (char *) helper_exe,
                         (char *) POD_NETWORK_COMMAND,
                         (char *) "connect",
                         (char *) netns_path,
                         uid,
                         NULL };
  struct connect_call *c = xzalloc (sizeof *c);
  c->done = done;
  c->data = data;
  if (helper_run_start (loop, argv, on_connected, c, NULL, err) < 0)
    {
      free (c);
      return -1;
    }
  return 0;
}

static void
on_disconnected (void *data, const json_value *answer, const shim_error *err)
{
  char *netns = data;
  const json_value *removed = answer ? json_get (answer, "removed") : NULL;
  char what[64] = "";
  for (size_t i = 0;
       removed != NULL && removed->type == JSON_ARRAY && i < removed->count
       && removed->items[i]->type == JSON_STRING;
       i++)
    snprintf (what + strlen (what), sizeof what - strlen (what), "%s%s",
              i ? " " : "", removed->items[i]->str);
  if (err != NULL)
    log_warn ("pod network teardown in %s: %s", netns, err->msg);
  else
    log_entry (LOG_LEVEL_INFO, "pod network torn down",
               (struct log_field[]){ { "netns", netns }, { "removed", what } },
               2);
  free (netns);
}

void
pod_network_disconnect (uv_loop_t *loop, const char *helper_exe,
                        const char *netns_path, const struct pod_nic *nic)
{
  char *const argv[] = { (char *) helper_exe,
                         (char *) POD_NETWORK_COMMAND,
                         (char *) "disconnect",
                         (char *) netns_path,
                         (char *) nic->ifname,
                         (char *) (nic->ingress_ours ? "true" : "false"),
                         NULL };
  char *netns = xstrdup (netns_path);
  shim_error *err = NULL;
  if (helper_run_start (loop, argv, on_disconnected, netns, NULL, &err) < 0)
    {
      log_warn ("pod network teardown in %s: %s", netns, err->msg);
      shim_error_free (err);
      free (netns);
    }
}
