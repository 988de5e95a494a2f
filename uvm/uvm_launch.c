/* The VMM's launch: the accelerator, the command lines, and the boot
   attempts with their watch (guest progress, stalled boots, QEMU's run
   state).  */
#include "uvm_private.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "uvm/podnet/pod_cgroup_removal.h"
#include "uvm/storage/disk_hotplug.h"
#include "uvm/vsock/gcs_log_parser.h"
#include "uvm/share/host_share.h"
#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/json.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/vmm/qmp_client.h"
#include "uvm/vmm/vmm_process.h"

/* Until the guest shows progress, its vCPUs are sampled this often; this
   many samples in a row without movement make a livelock.  */
#define HANG_SAMPLE_MS 400

#define HANG_SAMPLES 3

static bool guest_progressed (struct uvm *u);
static void on_boot_stall (uv_timer_t *t);
static void on_sample_tick (uv_timer_t *t);

/* ---- accelerator and run state ------------------------------------------ */

/* QEMU's own words, when it gave any, after what the shim saw.  */
static char *
with_vmm_reason (const struct uvm *u, const char *what)
{
  const char *why
      = u->launch.vmm ? vmm_process_first_error (u->launch.vmm) : NULL;
  return why ? xasprintf ("%s (QEMU: %s)", what, why) : xstrdup (what);
}

/* This attempt's boot cannot succeed: QEMU stopped or exited, or a KVM
   guest on trial showed no progress.  A KVM attempt that may fall back is
   relaunched under TCG; anything else fails the start.  */
void
uvm_attempt_failed (struct uvm *u, const char *what)
{
  if (u->state != UVM_BOOTING)
    return;
  cleanup_free char *why = with_vmm_reason (u, what);
  if (u->launch.accel.kvm && u->launch.accel.may_fall_back)
    {
      log_entry (
          LOG_LEVEL_WARN,
          "KVM does not run guests on this host; relaunching the VM "
          "under TCG",
          (struct log_field[]){ { "uvm-id", u->id }, { "reason", why } }, 2);
      free (u->launch.kvm_failure);
      u->launch.kvm_failure = xasprintf ("kvm attempt failed: %s", why);
      uvm_advance (u, UVM_EV_ATTEMPT_FAILED);
      if (!u->launch.vmm_exited)
        vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
      return;
    }
  uvm_fail_start (u, GRPC_FAILED_PRECONDITION,
                  "the VM did not boot under %s: %s", uvm_accel_name (u), why);
}

static void
on_progress_timeout (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (guest_progressed (u))
    return; /* the start timeout bounds the rest of the boot */
  char what[112];
  snprintf (what, sizeof what,
            "no guest progress under KVM within %u ms (the guest read no "
            "entropy, sent nothing)",
            u->launch.kvm_progress_timeout_ms);
  uvm_attempt_failed (u, what);
}

/* Whether this attempt's guest code has run: it sent bytes, or read its
   entropy.  A connected port proves nothing (QEMU connects its chardevs
   itself at start); QEMU takes the entropy bytes off the socket only as
   the guest reads them, so an empty send queue means the guest's init
   ran.  */
static bool
guest_progressed (struct uvm *u)
{
  int queued;
  if (!u->launch.guest_progress && u->guest.entropy_fd >= 0
      && ioctl (u->guest.entropy_fd, SIOCOUTQ, &queued) == 0 && queued == 0)
    uvm_note_progress (u);
  return u->launch.guest_progress;
}

/* Stopped VMs do not resume by themselves: before the start that fails the
   boot; after it the sandbox ends, with the reason in the log.  */
static void
vm_stopped (struct uvm *u, const char *state)
{
  cleanup_free char *what = xasprintf ("QEMU stopped the VM: %s", state);
  if (!uvm_state_start_reported (u->state))
    {
      uvm_attempt_failed (u, what);
      return;
    }
  if (!uvm_state_started (u->state) || u->launch.vmm_exited)
    return;
  cleanup_free char *why = with_vmm_reason (u, what);
  log_entry (LOG_LEVEL_ERROR, "VM stopped; ending the sandbox",
             (struct log_field[]){ { "uvm-id", u->id }, { "reason", why } },
             2);
  vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
}

static void
on_run_state (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  if (u->launch.qmp == NULL)
    return; /* closed with its VM */
  if (err != NULL)
    {
      log_warn ("uvm %s: %s; the VM's run state is not watched", u->id,
                err->msg);
      return;
    }
  const char *status = json_get_string (ret, "status");
  /* A migration stops the source at the switchover and starts the
     destination stopped; uvm_migration.c follows those.  */
  if (status == NULL || u->state == UVM_MIGRATING_OUT
      || u->state == UVM_MIGRATING_IN)
    return;
  if (strcmp (status, "running") != 0 && strcmp (status, "prelaunch") != 0)
    vm_stopped (u, status);
}

static void
query_run_state (struct uvm *u)
{
  qmp_client_execute (u->launch.qmp, "query-status", "{}", on_run_state, u);
}

static void
on_qmp_event (void *data, const char *event, const json_value *event_data)
{
  struct uvm *u = data;
  if (strcmp (event, "STOP") == 0)
    query_run_state (u); /* which state it stopped in */
  else if (strcmp (event, "GUEST_PANICKED") == 0)
    vm_stopped (u, "guest-panicked");
  else if (strcmp (event, "SHUTDOWN") == 0
           && !uvm_state_start_reported (u->state))
    {
      /* After the start a shutdown is the guest powering off (Kill).  */
      const char *r = json_get_string (event_data, "reason");
      cleanup_free char *what
          = xasprintf ("shutdown (%s)", r ? r : "no reason given");
      vm_stopped (u, what);
    }
}

int
uvm_choose_accel (struct uvm *u, enum accel_mode mode, shim_error **err)
{
  if (!u->backend->accelerated)
    {
      u->launch.accel.reason
          = xstrdup ("the VMM runs no guest code of its own");
      return 0;
    }
  struct host_verdict v;
  host_verdict_load (u->state_root, u->vmm_path, &v);
  int r = accel_choose (mode, accel_kvm_errno (), &v, &u->launch.accel, err);
  host_verdict_release (&v);
  return r;
}

/* The next attempt runs the same VM under TCG.  */
static void
switch_to_tcg (struct uvm *u)
{
  uvm_free_argv (u->launch.vmm_argv);
  u->launch.vmm_argv = u->launch.tcg_argv;
  u->launch.tcg_argv = NULL;
  accel_choice_release (&u->launch.accel);
  u->launch.accel = (struct accel_choice){ .reason = u->launch.kvm_failure };
  u->launch.kvm_failure = NULL;
  u->launch.fell_back = true;
}

/* Each attempt waits half as long again as the previous one: a host slow
   enough to need longer boots gets them, a hung kernel is still retried.  */
static uint64_t
stall_limit_ms (const struct uvm *u)
{
  uint64_t ms = u->launch.tcg_boot_stall_ms;
  for (unsigned i = 0; i < u->launch.boot_attempt; i++)
    ms += ms / 2;
  return ms;
}

/* The QMP connection of this attempt: run-state events, disk hot-plug.  */
static void
watch_vmm (struct uvm *u)
{
  u->launch.qmp = qmp_client_new (u->loop, u->launch.qmp_path);
  u->launch.disks = disk_hotplug_new (u->launch.qmp, u->id);
  qmp_client_watch (u->launch.qmp, on_qmp_event, u);
  /* A VM stopped before the connection sent no event that reached us.  */
  query_run_state (u);
}

int
uvm_spawn_vmm (struct uvm *u, shim_error **err)
{
  struct vmm_command run = { u->launch.vmm_argv, u->launch.vmm_env };
  u->launch.guest_progress = false;
  /* QEMU connects to the share's daemon as it starts.  */
  if (u->share != NULL && host_share_start_daemon (u->share, err) < 0)
    return shim_error_wrap (err, "start virtiofsd");
  struct vmm_placement place = {
    .cgroup_dir = u->cgroup_dir,
    .netns_path = u->net.netns_path,
    .tap = u->net.nic_connected ? POD_NIC_TAP : NULL,
    .inherit_fd = -1,
    .own_mount_namespace = true,
  };
  if (vmm_process_spawn (u->loop, u->helper_exe, &run, &u->launch.user, &place,
                         u->backend->name, uvm_on_vmm_exit, u, &u->launch.vmm,
                         err)
      < 0)
    return -1;
  uvm_record_vmm (u);
  char attempt[16];
  snprintf (attempt, sizeof attempt, "%u", u->launch.boot_attempt + 1);
  log_entry (
      LOG_LEVEL_INFO, "VMM started",
      (struct log_field[]){ { "uvm-id", u->id },
                            { "vmm", u->backend->name },
                            { "accel", uvm_accel_name (u) },
                            { "attempt", attempt },
                            { "accel_reason", u->launch.accel.reason } },
      5);
  if (u->backend->qmp)
    watch_vmm (u);
  /* The record of what was started is part of starting it.  */
  if (uvm_write_record (u, err) < 0)
    return -1;
  u->launch.attempt_started_ms = uv_now (u->loop);
  /* A migration's destination boots nothing: no boot to watch.  */
  if (u->incoming)
    return 0;
  bool tcg_watched = u->backend->accelerated && !u->launch.accel.kvm
                     && u->launch.tcg_boot_stall_ms > 0;
  if (u->launch.accel.kvm && u->launch.accel.on_trial)
    uv_timer_start (&u->launch.progress_timer, on_progress_timeout,
                    u->launch.kvm_progress_timeout_ms, 0);
  if (tcg_watched)
    uv_timer_start (&u->launch.stall_timer, on_boot_stall, stall_limit_ms (u),
                    0);
  if (u->backend->qmp && (tcg_watched || u->launch.accel.on_trial))
    {
      u->launch.last_sample.ncpus = 0;
      u->launch.still_samples = 0;
      u->launch.sampling = false;
      uv_timer_start (&u->launch.sample_timer, on_sample_tick, HANG_SAMPLE_MS,
                      HANG_SAMPLE_MS);
    }
  return 0;
}

/* Boots that hang.  Under TCG the guest kernel learns its TSC frequency
   only by calibrating against the PIT (QEMU 7.2's TCG gives no CPUID
   0x15/0x16/0x40000010 frequency, microvm has no HPET, the fixed command
   line has pmtmr=0).  The calibration rejects every sample taken while the
   host descheduled QEMU, so on a busy host it fails ("Marking TSC unstable
   due to could not calculate TSC khz"); calibrate_delay() then waits for
   jiffies, but microvm's hardware-reduced ACPI gives the kernel no PIT tick
   and the local APIC timer is only set up later: the kernel spins there
   forever.  Such a VM is relaunched, as soon as its vCPUs are seen standing
   still, else when the stall limit passes without progress.  A guest that
   read its entropy is past that point; the start timeout still bounds the
   rest of its boot.  */

/* The last resort for a boot without progress: kill it and launch again
   (on_vmm_exit relaunches).  */
static void
relaunch_stalled (struct uvm *u, const char *after_ms, const char *why)
{
  if (u->launch.boot_attempt + 1 >= UVM_BOOT_ATTEMPTS)
    return; /* the start timeout reports it */
  log_entry (LOG_LEVEL_WARN, "guest made no progress; relaunching the VM",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "after_ms", after_ms },
                                   { "reason", why } },
             3);
  uvm_advance (u, UVM_EV_ATTEMPT_FAILED);
  vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
}

static void
on_boot_stall (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (u->state != UVM_BOOTING || u->launch.vmm_exited || guest_progressed (u))
    return;
  char ms[24];
  snprintf (ms, sizeof ms, "%llu", (unsigned long long) stall_limit_ms (u));
  relaunch_stalled (u, ms, "no progress within the stall limit");
}

/* A guest whose vCPUs stand still (spinning in one place, or halted)
   across HANG_SAMPLES samples before it made any progress will not boot:
   under TCG that is the kernel stuck in calibrate_delay after a failed TSC
   calibration (see "Boots that hang"), under KVM on trial a guest KVM
   cannot run.  A slow guest moves, and keeps its time.  */
static void
on_vcpu_sample (void *data, const json_value *ret, const shim_error *err)
{
  struct uvm *u = data;
  if (u->launch.qmp == NULL)
    return; /* closed with its VM */
  u->launch.sampling = false;
  struct vcpu_sample now;
  if (err != NULL || ret == NULL || ret->type != JSON_STRING
      || !json_string_is_c (ret) || vcpu_sample_parse (ret->str, &now) < 0
      || u->state != UVM_BOOTING || u->launch.guest_progress)
    return;
  u->launch.still_samples = vcpu_sample_stuck (&u->launch.last_sample, &now)
                                ? u->launch.still_samples + 1
                                : 0;
  u->launch.last_sample = now;
  if (u->launch.still_samples + 1 < HANG_SAMPLES)
    return;
  uv_timer_stop (&u->launch.sample_timer);
  char what[96], ms[24];
  snprintf (what, sizeof what,
            "the guest's vCPUs stood still for %d ms (CPU 0 at 0x%llx)",
            (HANG_SAMPLES - 1) * HANG_SAMPLE_MS,
            (unsigned long long) now.ip[0]);
  if (u->launch.accel.kvm)
    {
      uvm_attempt_failed (u, what);
      return;
    }
  snprintf (
      ms, sizeof ms, "%llu",
      (unsigned long long) (uv_now (u->loop) - u->launch.attempt_started_ms));
  relaunch_stalled (u, ms, what);
}

static void
on_sample_tick (uv_timer_t *t)
{
  struct uvm *u = t->data;
  if (u->state != UVM_BOOTING || u->launch.vmm_exited || guest_progressed (u))
    {
      uv_timer_stop (t);
      return;
    }
  if (u->launch.sampling || u->launch.qmp == NULL)
    return;
  u->launch.sampling = true;
  qmp_client_execute (u->launch.qmp, "human-monitor-command",
                      "{\"command-line\":\"info registers -a\"}",
                      on_vcpu_sample, u);
}

/* After an attempt's VMM exited (a stalled boot, or a KVM attempt that
   failed): drop what it connected, bind again and start the next one.  */
void
uvm_relaunch (struct uvm *u)
{
  uvm_advance (u, UVM_EV_VMM_EXITED);
  u->launch.boot_attempt++;
  uvm_drop_vm (u);
  gcs_log_parser_free (u->guest.log_parser);
  u->guest.log_parser = NULL;
  if (u->launch.kvm_failure != NULL)
    switch_to_tcg (u);
  shim_error *err = NULL;
  if (uvm_bind_listeners (u, &err) < 0 || uvm_spawn_vmm (u, &err) < 0)
    {
      /* A VMM that did start is killed by fail_start.  */
      u->launch.vmm_exited = u->launch.vmm == NULL;
      uvm_fail_start (u, GRPC_FAILED_PRECONDITION, "relaunch the VM: %s",
                      err->msg);
      shim_error_free (err);
    }
}

/* The initramfs that mounts rootfs.vhd, when the boot files have one.  */
static char *
loader_path (const struct sandbox_options *o)
{
  char *loader = xasprintf ("%s/" UVM_LOADER_FILE, o->boot_files_root_path);
  if (o->rootfs == ROOTFS_VHD && access (loader, R_OK) == 0)
    return loader;
  free (loader);
  return NULL;
}

/* Whether the boot files' kernel is one without ACPI (UVM_KERNEL_ACPI_FILE):
   its VM then has none (see vmm_spec.acpi_off).  */
static int
kernel_without_acpi (const struct sandbox_options *o, bool *off,
                     shim_error **err)
{
  cleanup_free char *path
      = xasprintf ("%s/" UVM_KERNEL_ACPI_FILE, o->boot_files_root_path);
  *off = false;
  if (access (path, F_OK) < 0)
    return 0;
  cleanup_free char *text = NULL;
  size_t len;
  if (read_file_capped (-1, path, 16, &text, &len, err) < 0)
    return shim_error_wrap (err, "boot files");
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
    text[--len] = '\0';
  if (strcmp (text, "off") == 0)
    *off = true;
  else if (strcmp (text, "on") != 0)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "boot files: %s says \"%s\", not \"on\" or "
                           "\"off\"",
                           path, text);
  return 0;
}

/* Who the VMM runs as: a uid of its own, leased while the sandbox lives;
   root only when configured so.  */
int
uvm_choose_user (struct uvm *u, const struct uvm_config *cfg, shim_error **err)
{
  const char *slash = strrchr (u->state_dir, '/');
  cleanup_free char *leases
      = xasprintf ("%s/" VMM_USER_LEASE_DIR, u->state_root);
  if (vmm_user_lease (cfg->cfg, slash ? slash + 1 : u->state_dir, leases,
                      &u->launch.user, &u->launch.user_lease, err)
      < 0)
    return shim_error_wrap (err, "VMM user");
  free (u->launch.user_reason);
  u->launch.user_reason
      = xstrdup (u->launch.user.uid ? "its own uid"
                                    : "vmm_user \"root\" in the "
                                      "shim configuration");
  return 0;
}

/* What the VMM opens itself must be readable by its uid: it never runs as
   root unless configured so.  */
static int
check_user_reads (const struct uvm *u, const char *const *paths, size_t n,
                  shim_error **err)
{
  char *why = NULL;
  if (vmm_user_can_read (&u->launch.user, paths, n, &why))
    return 0;
  shim_error_set (err, GRPC_FAILED_PRECONDITION,
                  "VMM user: %s (the VMM runs as its own uid: make what it "
                  "opens readable to it, or set vmm_user \"root\" in the "
                  "shim configuration)",
                  why);
  free (why);
  return -1;
}

/* The VMM's command line under the chosen accelerator, and under TCG too
   when a KVM attempt may fall back (from u->launch, with the NIC once
   connected).  */
int
uvm_build_vmm_commands (struct uvm *u, shim_error **err)
{
  const struct sandbox_options *o = u->launch.opts;
  const struct shim_config *sc = u->launch.cfg;
  cleanup_free char *loader = loader_path (o);
  bool acpi_off;
  if (kernel_without_acpi (o, &acpi_off, err) < 0)
    return -1;
  struct vmm_spec spec = {
    .sandbox_id = u->id,
    .kernel_path = o->kernel_path,
    .initrd_path = o->rootfs == ROOTFS_INITRD ? o->rootfs_path : NULL,
    .rootfs_vhd_path = o->rootfs == ROOTFS_VHD ? o->rootfs_path : NULL,
    .loader_path = loader,
    .nic_mac = u->net.nic_connected ? u->net.nic.mac : NULL,
    .rootfs_raw_size = u->launch.rootfs_raw_size,
    .kernel_cmdline = u->kernel_cmdline,
    .acpi_off = acpi_off,
    .cpus = o->processor_count,
    .memory_mb = o->memory_mb,
    .vsock_uds = u->vsock_uds,
    .host_ports = u->guest.ports,
    .nhost_ports = u->guest.nports,
    .qmp_socket = u->launch.qmp_path,
    .qmp_operator_socket = u->launch.qmp_operator_path,
    .kvm = u->launch.accel.kvm,
    .tcg_tb_size_mb = sc->tcg_tb_size_mb,
    .incoming = u->incoming,
    .share_socket = u->share_socket,
    .vmm_path = sc->vmm_path,
    .vmm_args = sc->vmm_args,
    .nvmm_args = sc->nvmm_args,
  };
  const char *boot[] = { o->kernel_path, o->rootfs_path, loader };
  for (size_t i = 0; i < sizeof boot / sizeof *boot; i++)
    if (boot[i] != NULL && u->nboot_paths < VM_BOOT_FILES_MAX)
      u->boot_paths[u->nboot_paths++] = xstrdup (boot[i]);
  struct vmm_command cmd = { 0 };
  if (u->backend->build (&spec, &cmd, err) < 0)
    return -1;
  u->launch.vmm_argv = cmd.argv;
  u->launch.vmm_env = cmd.env;
  if (access (cmd.argv[0], X_OK) < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "VMM %s is not executable", cmd.argv[0]);
  const char *reads[]
      = { cmd.argv[0], o->kernel_path, o->rootfs_path, loader };
  if (check_user_reads (u, reads, sizeof reads / sizeof *reads, err) < 0)
    return -1;
  if (!(u->launch.accel.kvm && u->launch.accel.may_fall_back))
    return 0;
  struct vmm_command tcg = { 0 };
  spec.kvm = false;
  if (u->backend->build (&spec, &tcg, err) < 0)
    return -1;
  u->launch.tcg_argv = tcg.argv;
  tcg.argv = NULL;
  vmm_command_release (&tcg);
  return 0;
}

void
uvm_on_vmm_exit (void *data, int64_t status, int term_signal)
{
  struct uvm *u = data;
  if (u->state == UVM_BOOTING)
    {
      char what[64];
      if (term_signal)
        snprintf (what, sizeof what, "QEMU was killed by signal %d",
                  term_signal);
      else
        snprintf (what, sizeof what, "QEMU exited with status %lld",
                  (long long) status);
      uvm_attempt_failed (u, what);
    }
  if (u->state == UVM_RELAUNCHING)
    {
      uvm_relaunch (u);
      return;
    }
  u->launch.vmm_exited = true;
  u->launch.exit_status = status;
  u->launch.term_signal = term_signal;
  /* virtiofsd served that VMM only, and shares the pod's cgroup.  */
  host_share_stop_daemon (u->share);
  if (u->cgroup_dir != NULL)
    pod_cgroup_remove_when_empty (u->loop, u->cgroup_dir, u->id);
  uvm_advance (u, UVM_EV_VMM_EXITED);
  uv_timer_stop (&u->grace_timer);
  /* A bridge being handed over reads on to its EOF.  */
  if (u->migration.phase != UVM_MIGRATION_HANDING_OVER)
    {
      bridge_conn_close (u->guest.bridge, "the VM exited", false);
      u->guest.bridge = NULL;
    }
  uvm_migration_vmm_exited (u);
  log_entry (
      LOG_LEVEL_INFO, "VMM exited",
      (struct log_field[]){
          { "uvm-id", u->id },
          { "status", term_signal ? strsignal (term_signal) : "exit" } },
      2);
  uvm_guest_vmm_exited (u);
  uvm_maybe_report_exit (u);
}

/* Kills what is left of the VMM and closes the listeners and connections
   of its launch.  */
void
uvm_drop_vm (struct uvm *u)
{
  vmm_process_destroy (u->launch.vmm);
  u->launch.vmm = NULL;
  bool destroyed = u->state == UVM_DESTROYED;
  uvm_guest_disconnect (u, destroyed);
  uv_timer_stop (&u->launch.progress_timer);
  uv_timer_stop (&u->launch.sample_timer);
  /* No callback once destroyed; a relaunch fails attaches in flight (they
     end as the client closes).  */
  disk_hotplug_close (u->launch.disks, destroyed);
  u->launch.disks = NULL;
  struct qmp_client *qmp = u->launch.qmp;
  u->launch.qmp = NULL; /* its failing commands find the VM gone */
  qmp_client_close (qmp);
}
