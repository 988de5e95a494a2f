/* The UVM's lifecycle: start and exit sequencing, stop, destroy (see
   uvm_private.h for the other parts).  */
#include "uvm_private.h"

#include "uvm/podnet/pod_cgroup.h"
#include "uvm/podnet/pod_cgroup_removal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uvm/bridge/bridge_conn.h"
#include "uvm/storage/disk_hotplug.h"
#include "uvm/vsock/gcs_log_parser.h"
#include "uvm/share/host_share.h"
#include "proto/base/file_io.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/vmm/qmp_client.h"
#include "uvm/vmm/vmm_process.h"
#include "uvm/vsock/vsock_port.h"

static void
on_start_timeout (uv_timer_t *t)
{
  struct uvm *u = t->data;
  char what[96];
  snprintf (what, sizeof what,
            "the guest agent did not connect to the GCS port (%u) within "
            "%llu ms",
            LINUX_GCS_VSOCK_PORT,
            (unsigned long long) uv_timer_get_repeat (t));
  if (u->launch.accel.kvm && u->launch.accel.may_fall_back)
    {
      /* The TCG attempt gets the whole timeout again.  */
      uvm_attempt_failed (u, what);
      uv_timer_again (t);
      return;
    }
  uvm_fail_start (u, GRPC_DEADLINE_EXCEEDED, "%s; VMM stopped", what);
}

/* The VMM's own directory (its sockets), reachable by its uid through
   the state directories, which only root may list or write.  */
static int
make_vm_dir (struct uvm *u, shim_error **err)
{
  if (chmod (u->state_root, 0711) < 0 || chmod (u->state_dir, 0711) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "chmod %s",
                             u->state_dir);
  return vmm_user_own (&u->launch.user, u->vm_dir, err);
}

/* The host share, when the sandbox has one: its directory now, its
   virtiofsd with each VMM (uvm_spawn_vmm).  */
static int
open_share (struct uvm *u, const struct uvm_config *cfg, shim_error **err)
{
  if (!cfg->host_share)
    return 0;
  u->share_socket = xasprintf ("%s/virtiofs.sock", u->vm_dir);
  struct host_share_config hc = {
    .loop = u->loop,
    .state_dir = u->state_dir,
    .virtiofsd = cfg->cfg->virtiofsd_path,
    .helper_exe = cfg->helper_exe,
    .cgroup_dir = cfg->cgroup_dir,
    .socket_path = u->share_socket,
    .vmm_uid = u->launch.user.uid,
    .vmm_gid = u->launch.user.gid,
    .id = u->id,
  };
  if (host_share_open (&hc, &u->share, err) < 0)
    return shim_error_wrap (err, "host directory share");
  return 0;
}

int
uvm_share_bind (struct uvm *u, const char *source,
                const struct bind_options *options, char **guest_path,
                shim_error **err)
{
  if (u->share == NULL)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the UVM has no host directory share");
  char *name = NULL;
  if (host_share_bind (u->share, source, options, &name, err) < 0)
    return -1;
  *guest_path = xasprintf (BRIDGE_SHARE_DIR "/%s", name);
  free (name);
  return 0;
}

void
uvm_share_unbind (struct uvm *u, const char *guest_path)
{
  const char *slash = strrchr (guest_path, '/');
  if (u->share != NULL && slash != NULL)
    host_share_unbind (u->share, slash + 1);
}

/* A live migration's destination is "started" once its VMM waits (after
   uvm_start has returned: the caller has its UVM by then).  */
static void
on_incoming_ready (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (u->state == UVM_MIGRATING_IN)
    {
      u->events->on_started (u->data, NULL);
      return;
    }
  shim_error e = { GRPC_UNAVAILABLE,
                   (char *) "the VMM exited before it could receive the VM" };
  u->events->on_started (u->data, &e);
}

/* The first attempt's VMM, once everything it needs is there.  */
static int
launch_first (struct uvm *u, shim_error **err)
{
  if (uvm_build_vmm_commands (u, err) < 0 || uvm_spawn_vmm (u, err) < 0)
    return -1;
  if (u->incoming)
    {
      /* Nothing boots: the VM's state comes from the source.  */
      uvm_advance (u, UVM_EV_INCOMING);
      uv_timer_start (&u->launch.start_timer, on_incoming_ready, 0, 0);
      return 0;
    }
  uint64_t timeout = u->launch.cfg->gcs_connection_timeout_ms;
  uv_timer_start (&u->launch.start_timer, on_start_timeout, timeout, 0);
  uv_timer_set_repeat (&u->launch.start_timer, timeout);
  return 0;
}

static void
on_network_connected (void *data, const struct pod_nic *nic,
                      const shim_error *err)
{
  struct uvm *u = data;
  u->open_handles--;
  if (u->state == UVM_DESTROYED)
    {
      /* Destroyed meanwhile: what the helper made goes too.  */
      if (nic != NULL)
        pod_network_disconnect (u->loop, u->helper_exe, u->net.netns_path,
                                nic);
      uvm_maybe_free (u);
      return;
    }
  shim_error *failed = NULL;
  if (err == NULL)
    {
      u->net.nic = *nic;
      u->net.nic_connected = true;
      if (launch_first (u, &failed) == 0)
        return;
      err = failed;
    }
  log_error ("uvm %s: %s", u->id, err->msg);
  uvm_report_started (u, err);
  shim_error_free (failed);
}

/* The record from cfg, with its timers (not started).  */
static struct uvm *
uvm_new (uv_loop_t *loop, const struct uvm_config *cfg,
         const struct uvm_events *events, void *data)
{
  struct uvm *u = xzalloc (sizeof *u);
  u->guest.entropy_fd = -1;
  u->launch.user_lease.fd = -1;
  u->loop = loop;
  u->id = xstrdup (cfg->id);
  u->state_dir = xstrdup (cfg->state_dir);
  u->state_root = xstrdup (cfg->state_root);
  u->vmm_path = xstrdup (cfg->cfg->vmm_path ? cfg->cfg->vmm_path : "");
  u->uvm_json_path = xasprintf ("%s/uvm.json", cfg->bundle);
  u->vm_dir = xasprintf ("%s/vm", cfg->state_dir);
  u->vsock_uds = xasprintf ("%s/vsock", u->vm_dir);
  u->launch.qmp_path = xasprintf ("%s/qmp.sock", u->vm_dir);
  u->launch.qmp_operator_path = xasprintf ("%s/qmp-operator.sock", u->vm_dir);
  u->kernel_cmdline = xstrdup (cfg->kernel_cmdline);
  u->cgroup_dir = cfg->cgroup_dir ? xstrdup (cfg->cgroup_dir) : NULL;
  u->net.netns_path = cfg->netns_path && cfg->backend->nic
                          ? xstrdup (cfg->netns_path)
                          : NULL;
  u->live_migration = cfg->opts->live_migration;
  u->log_relay = cfg->opts->log_relay;
  u->launch.opts = cfg->opts;
  u->launch.cfg = cfg->cfg;
  u->launch.rootfs_raw_size = cfg->rootfs_raw_size;
  u->incoming = cfg->incoming;
  u->memory_mb = cfg->opts->memory_mb;
  u->cpus = cfg->opts->processor_count;
  u->stop_grace_ms = cfg->cfg->stop_grace_ms;
  u->launch.tcg_boot_stall_ms = cfg->cfg->tcg_boot_stall_ms;
  u->launch.kvm_progress_timeout_ms = cfg->cfg->kvm_progress_timeout_ms;
  u->events = events;
  u->data = data;
  u->helper_exe = xstrdup (cfg->helper_exe);
  u->backend = cfg->backend;
  uvm_init_timer (u, &u->launch.start_timer);
  uvm_guest_init (u);
  uvm_init_timer (u, &u->grace_timer);
  uvm_init_timer (u, &u->launch.stall_timer);
  uvm_init_timer (u, &u->launch.sample_timer);
  uvm_init_timer (u, &u->launch.progress_timer);
  uvm_migration_init (u, cfg->cfg);
  return u;
}

int
uvm_start (uv_loop_t *loop, const struct uvm_config *cfg,
           const struct uvm_events *events, void *data, struct uvm **out,
           shim_error **err)
{
  struct uvm *u = uvm_new (loop, cfg, events, data);
  if (u->incoming && !u->backend->qmp)
    {
      shim_error_set (err, GRPC_FAILED_PRECONDITION,
                      "the %s VMM cannot receive a live migration",
                      u->backend->name);
      goto fail;
    }
  if (uvm_choose_accel (u, cfg->cfg->accel, err) < 0
      || mkdir_p (cfg->state_dir, 0700, err) < 0
      || uvm_choose_user (u, cfg, err) < 0 || make_vm_dir (u, err) < 0
      || open_share (u, cfg, err) < 0 || uvm_bind_listeners (u, err) < 0)
    goto fail;
  if (u->net.netns_path != NULL)
    {
      /* The VMM's command line needs the interface's MAC: it is built
         when the helper answers.  */
      if (pod_network_connect (u->loop, u->helper_exe, u->net.netns_path,
                               u->launch.user.uid, on_network_connected, u,
                               err)
          < 0)
        goto fail;
      u->open_handles++; /* until the helper answers */
      *out = u;
      return 0;
    }
  if (u->backend->nic)
    log_entry (LOG_LEVEL_INFO,
               "no pod network namespace in the spec: the VM has no NIC",
               (struct log_field[]){ { "uvm-id", u->id } }, 1);
  if (launch_first (u, err) < 0)
    goto fail;
  *out = u;
  return 0;

fail:
  uvm_destroy (u);
  return -1;
}

bool
uvm_incoming (const struct uvm *u)
{
  return u->incoming;
}

int
uvm_pid (const struct uvm *u)
{
  return u->launch.vmm ? vmm_process_pid (u->launch.vmm) : 0;
}

static void
on_grace_expired (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (!u->launch.vmm_exited)
    {
      log_warn ("uvm %s: VMM still running %u ms after SIGTERM; killing it",
                u->id, u->stop_grace_ms);
      vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
    }
}

/* Asks the guest agent to power the VM off; false if it cannot be asked.  */
static bool
request_guest_shutdown (struct uvm *u)
{
  if (!u->backend->stop_via_guest)
    return false;
  struct bridge_conn *c = uvm_connected_bridge (u);
  bool sent = c != NULL && bridge_conn_post (c, BRIDGE_SHUTDOWN_BODY) == 0;
  log_entry (sent ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
             sent ? "asked the guest to power off"
                  : "cannot ask the guest to power off; signalling the VMM",
             (struct log_field[]){ { "uvm-id", u->id } }, 1);
  return sent;
}

/* ---- disks ------------------------------------------------------------ */

/* The VM can take disks now; else why not.  */
static int
disks_usable (const struct uvm *u, shim_error **err)
{
  if (!u->backend->qmp)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the %s VMM cannot hot-add disks; containers need "
                           "the qemu VMM",
                           u->backend->name);
  if (u->launch.vmm == NULL || u->launch.vmm_exited || u->launch.disks == NULL)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION, "the VM is gone");
  return 0;
}

int
uvm_attach_disk (struct uvm *u, const char *image, uint32_t target,
                 uvm_done_fn done, void *data, shim_error **err)
{
  if (disks_usable (u, err) < 0)
    return -1;
  return disk_hotplug_attach (u->launch.disks, image, target, done, data, err);
}

void
uvm_release_scsi_target (struct uvm *u, uint32_t target)
{
  /* A VM that is gone took its disks with it.  */
  if (u->launch.disks != NULL && u->state != UVM_DESTROYED
      && u->launch.vmm != NULL && !u->launch.vmm_exited)
    disk_hotplug_release (u->launch.disks, target);
}

int
uvm_reserve_scsi_target (struct uvm *u, uint32_t *target, shim_error **err)
{
  if (disks_usable (u, err) < 0)
    return -1;
  if (*target != 0)
    return disk_hotplug_reserve_at (u->launch.disks, *target) == 0
               ? 0
               : shim_error_set (err, GRPC_FAILED_PRECONDITION,
                                 "SCSI target %u is taken or out of range "
                                 "(1-%u)",
                                 *target, DISK_HOTPLUG_TARGET_MAX);
  if (disk_hotplug_reserve (u->launch.disks, target) < 0)
    return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED,
                           "the UVM has no SCSI target left for another "
                           "container (%u in use or not yet unplugged)",
                           DISK_HOTPLUG_TARGET_MAX);
  return 0;
}

int
uvm_signal (struct uvm *u, int sig, shim_error **err)
{
  if (u->launch.vmm == NULL || u->launch.vmm_exited)
    return shim_error_set (err, GRPC_NOT_FOUND,
                           "process already finished: not found");
  if (!(sig == SIGTERM && request_guest_shutdown (u))
      && vmm_process_kill (u->launch.vmm, sig, err) < 0)
    return -1;
  if (sig == SIGTERM && !uv_is_active ((uv_handle_t *) &u->grace_timer))
    uv_timer_start (&u->grace_timer, on_grace_expired, u->stop_grace_ms, 0);
  return 0;
}

int
uvm_usage (const struct uvm *u, uint64_t *cpu_ns, uint64_t *rss_bytes)
{
  if (u->launch.vmm == NULL || u->launch.vmm_exited)
    return -1;
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat",
            vmm_process_pid (u->launch.vmm));
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return -1;
  char buf[1024];
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  /* Fields after the parenthesised command: utime is 14th, rss 24th.  */
  char *p = strrchr (buf, ')');
  if (p == NULL)
    return -1;
  unsigned long long utime = 0, stime = 0;
  long long rss = 0;
  /* NOLINTNEXTLINE(cert-err34-c): the kernel's own format */
  if (sscanf (p + 2,
              "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
              "%*d %*d %*d %*d %*u %*u %lld",
              &utime, &stime, &rss)
      != 3)
    return -1;
  long hz = sysconf (_SC_CLK_TCK);
  *cpu_ns = (utime + stime) * (1000000000ull / (unsigned long long) hz);
  *rss_bytes = (uint64_t) rss * (uint64_t) sysconf (_SC_PAGESIZE);
  return 0;
}

void
uvm_destroy (struct uvm *u)
{
  if (u == NULL || u->state == UVM_DESTROYED)
    return;
  uvm_advance (u, UVM_EV_DESTROY);
  uvm_drop_vm (u);
  host_share_close (u->share);
  u->share = NULL;
  if (u->cgroup_dir != NULL && !u->launch.vmm_exited)
    pod_cgroup_remove_when_empty (u->loop, u->cgroup_dir, u->id);
  if (u->net.nic_connected)
    pod_network_disconnect (u->loop, u->helper_exe, u->net.netns_path,
                            &u->net.nic);
  uv_close ((uv_handle_t *) &u->launch.start_timer, uvm_on_handle_closed);
  uvm_guest_close (u);
  uv_close ((uv_handle_t *) &u->grace_timer, uvm_on_handle_closed);
  uv_close ((uv_handle_t *) &u->launch.stall_timer, uvm_on_handle_closed);
  uv_close ((uv_handle_t *) &u->launch.sample_timer, uvm_on_handle_closed);
  uv_close ((uv_handle_t *) &u->launch.progress_timer, uvm_on_handle_closed);
  uvm_migration_close (u);
  unlink (u->uvm_json_path);
  remove_tree (u->state_dir);
}
