/* The UVM's state on disk: uvm.json (what was started, and what the guest
   said), and vmm.pid for the delete action when the daemon is gone.  */
#include "uvm/share/host_share.h"
#include "uvm_private.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/json.h"
#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/podnet/pod_cgroup.h"
#include "uvm/vmm/vmm_process.h"

/* ---- uvm.json --------------------------------------------------------- */

const char *
uvm_accel_name (const struct uvm *u)
{
  if (!u->backend->accelerated)
    return "none";
  return u->launch.accel.kvm ? "kvm" : "tcg";
}

int
uvm_write_record (struct uvm *u, shim_error **err)
{
  strbuf sb = STRBUF_INIT;
  strbuf_puts (&sb, "{\n  \"id\": ");
  strbuf_json_string (&sb, u->id, strlen (u->id));
  strbuf_puts (&sb, ",\n  \"kernel_cmdline\": ");
  strbuf_json_string (&sb, u->kernel_cmdline, strlen (u->kernel_cmdline));
  strbuf_puts (&sb, ",\n  \"vmm_argv\": [");
  for (size_t i = 0; u->launch.vmm_argv && u->launch.vmm_argv[i]; i++)
    {
      strbuf_puts (&sb, i ? ", " : "");
      strbuf_json_string (&sb, u->launch.vmm_argv[i],
                          strlen (u->launch.vmm_argv[i]));
    }
  strbuf_printf (&sb, "],\n  \"vmm_pid\": %d,\n  \"accel\": \"%s\",\n",
                 u->launch.vmm ? vmm_process_pid (u->launch.vmm) : 0,
                 uvm_accel_name (u));
  strbuf_puts (&sb, "  \"accel_reason\": ");
  strbuf_json_string (&sb, u->launch.accel.reason,
                      strlen (u->launch.accel.reason));
  strbuf_printf (&sb, ",\n  \"vmm_uid\": %u,\n  \"vmm_user_reason\": ",
                 (unsigned) u->launch.user.uid);
  const char *ur = u->launch.user_reason ? u->launch.user_reason : "";
  strbuf_json_string (&sb, ur, strlen (ur));
  strbuf_puts (&sb, ",\n");
  strbuf_printf (&sb, "  \"live_migration\": %s,\n  \"log_listener\": ",
                 u->live_migration ? "true" : "false");
  if (u->guest.log_listener_address)
    strbuf_json_string (&sb, u->guest.log_listener_address,
                        strlen (u->guest.log_listener_address));
  else
    strbuf_puts (&sb, "null");
  strbuf_puts (&sb, ",\n  \"cgroup\": ");
  if (u->cgroup_dir)
    strbuf_json_string (&sb, u->cgroup_dir, strlen (u->cgroup_dir));
  else
    strbuf_puts (&sb, "null");
  strbuf_puts (&sb, ",\n  \"guest\": ");
  if (u->guest.present)
    {
      strbuf_puts (&sb, "{\"cmdline\": ");
      strbuf_json_string (&sb, u->guest.hello.cmdline,
                          strlen (u->guest.hello.cmdline));
      strbuf_puts (&sb, ", \"kernel_release\": ");
      strbuf_json_string (&sb, u->guest.hello.kernel_release,
                          strlen (u->guest.hello.kernel_release));
      strbuf_puts (&sb, ", \"root\": ");
      strbuf_json_string (&sb, u->guest.hello.root,
                          strlen (u->guest.hello.root));
      strbuf_printf (&sb,
                     ", \"cpus\": %llu, \"memory_mb\": %llu, "
                     "\"uptime_ms\": %llu}",
                     (unsigned long long) u->guest.hello.cpus,
                     (unsigned long long) u->guest.hello.memory_mb,
                     (unsigned long long) u->guest.hello.uptime_ms);
    }
  else
    strbuf_puts (&sb, "null");
  strbuf_puts (&sb, "\n}\n");
  int r = write_file_atomic (u->uvm_json_path, sb.data, sb.len, err);
  strbuf_release (&sb);
  return r < 0 ? shim_error_wrap (err, "write uvm.json") : 0;
}

/* ---- vmm.pid ---------------------------------------------------------- */

/* Field 22 of /proc/<pid>/stat: tells a pid's process from a later one.  */
static unsigned long long
process_start_time (int pid)
{
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return 0;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  char *p = strrchr (buf, ')');
  unsigned long long start = 0;
  if (p == NULL
      /* NOLINTNEXTLINE(cert-err34-c): the kernel's own format */
      || sscanf (p + 2,
                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
                 "%*d %*d %*d %*d %*d %*d %llu",
                 &start)
             != 1)
    return 0;
  return start;
}

/* <state_dir>/vmm.pid, JSON: the VMM's pid and start time, the pod's
   cgroup directory, network namespace, CNI interface and whether its
   ingress qdisc is the shim's, the VMM's uid (its lease), for cleanup
   without the daemon.  */
void
uvm_record_vmm (struct uvm *u)
{
  int pid = vmm_process_pid (u->launch.vmm);
  strbuf sb = STRBUF_INIT;
  strbuf_printf (&sb, "{\"pid\": %d, \"start_time\": %llu, \"cgroup\": ", pid,
                 process_start_time (pid));
  const char *cgroup = u->cgroup_dir ? u->cgroup_dir : "";
  const char *netns = u->net.nic_connected ? u->net.netns_path : "";
  const char *ifname = u->net.nic_connected ? u->net.nic.ifname : "";
  strbuf_json_string (&sb, cgroup, strlen (cgroup));
  strbuf_puts (&sb, ", \"netns\": ");
  strbuf_json_string (&sb, netns, strlen (netns));
  strbuf_puts (&sb, ", \"ifname\": ");
  strbuf_json_string (&sb, ifname, strlen (ifname));
  strbuf_printf (&sb, ", \"ingress_ours\": %s, \"vmm_uid\": %u}\n",
                 u->net.nic_connected && u->net.nic.ingress_ours ? "true"
                                                                 : "false",
                 (unsigned) u->launch.user.uid);
  cleanup_free char *path = xasprintf ("%s/vmm.pid", u->state_dir);
  shim_error *err = NULL;
  if (write_file_atomic (path, sb.data, sb.len, &err) < 0)
    {
      log_warn ("uvm %s: %s (the delete action cannot clean up after a "
                "crash)",
                u->id, err->msg);
      shim_error_free (err);
    }
  strbuf_release (&sb);
}

static const struct json_limits record_limits = { 4, 16384 };

int
uvm_cleanup_orphan (const char *state_dir, const char *helper_exe)
{
  char *path = xasprintf ("%s/vmm.pid", state_dir);
  char *text = NULL;
  size_t len = 0;
  json_value *rec = NULL;
  if (read_file_capped (-1, path, 8192, &text, &len, NULL) == 0)
    rec = json_parse (text, len, &record_limits, NULL);
  int pid = rec ? (int) json_get_u64 (rec, "pid") : 0;
  unsigned long long start = rec ? json_get_u64 (rec, "start_time") : 0;
  if (pid > 1 && start != 0 && process_start_time (pid) == start)
    kill (pid, SIGKILL);
  /* The cgroup empties once the killed VMM is gone (reaped by whoever
     inherited it).  */
  for (int waited = 0;
       waited < 2000 && start != 0 && process_start_time (pid) == start;
       waited += 10)
    usleep (10 * 1000);
  const char *cgroup = rec ? json_get_string (rec, "cgroup") : NULL;
  if (cgroup != NULL && *cgroup)
    pod_cgroup_remove (POD_CGROUP_MOUNTINFO, cgroup, NULL);
  const char *netns = rec ? json_get_string (rec, "netns") : NULL;
  const char *ifname = rec ? json_get_string (rec, "ifname") : NULL;
  const json_value *ours = rec ? json_get (rec, "ingress_ours") : NULL;
  if (netns != NULL && *netns && ifname != NULL)
    {
      struct pod_nic nic
          = { .ingress_ours
              = ours != NULL && ours->type == JSON_BOOL && ours->boolean };
      snprintf (nic.ifname, sizeof nic.ifname, "%s", ifname);
      /* The delete action has no loop of its own: one for the helper.  */
      uv_loop_t loop;
      uv_loop_init (&loop);
      pod_network_disconnect (&loop, helper_exe, netns, &nic);
      uv_run (&loop, UV_RUN_DEFAULT);
      uv_loop_close (&loop);
    }
  if (rec != NULL)
    {
      cleanup_free char *root = xstrdup (state_dir);
      char *slash = strrchr (root, '/');
      if (slash != NULL)
        *slash = '\0';
      cleanup_free char *leases = xasprintf ("%s/" VMM_USER_LEASE_DIR, root);
      vmm_user_lease_cleanup_orphan (leases,
                                     (uid_t) json_get_u64 (rec, "vmm_uid"));
    }
  json_free (rec);
  free (text);
  free (path);
  host_share_cleanup_orphan (state_dir);
  char scratch[4096];
  path = xasprintf ("%s/" UVM_LAYER_SCRATCH_LINK, state_dir);
  ssize_t n = readlink (path, scratch, sizeof scratch - 1);
  if (n > 0)
    {
      scratch[n] = '\0';
      remove_tree (scratch);
    }
  free (path);
  remove_tree (state_dir);
  return pid > 0 ? pid : 0;
}
