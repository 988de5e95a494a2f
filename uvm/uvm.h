/* One utility VM: its state directory, host vsock listeners (entropy on 1,
   the GCS log on 109 unless live-migratable, the GCS on 0x40000000), the
   VMM process, the start sequence (done when the guest agent says hello,
   bounded by a timeout) and the exit sequence (VMM exit, then "log output
   finished", then on_exited).  */
#ifndef LCOW_UVM_UVM_H
#define LCOW_UVM_UVM_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"
#include "proto/mount_options.h"
#include "uvm/config/sandbox_options.h"
#include "uvm/config/shim_config.h"
#include "uvm/vmm/vmm.h"

struct uvm;

/* In the boot files directory: the initramfs that mounts rootfs.vhd when
   the kernel has no built-in virtio-scsi (see vmm_spec.loader_path).  */
#define UVM_LOADER_FILE "loader.img"
/* In the boot files directory: "off" when the kernel is built without
   ACPI (the project's kernel), so its VM has none either; absent or "on":
   the VM has ACPI.  */
#define UVM_KERNEL_ACPI_FILE "kernel.acpi"
/* Launches of one VM whose boot hangs under TCG, at most: a hang is seen
   in about 1.6 s, and on a host with every core busy half the attempts
   hang; the start timeout bounds them all.  */
#define UVM_BOOT_ATTEMPTS 40

struct uvm_config
{
  const char *id;
  /* Private runtime directory (created here, removed by uvm_destroy).  */
  const char *state_dir;
  /* The shim's state root: where the host's KVM verdict is kept.  */
  const char *state_root;
  /* Where uvm.json is written.  */
  const char *bundle;
  const struct sandbox_options *opts;
  /* The pod's cgroup for the VMM (pod_cgroup_dir's), or NULL.  */
  const char *cgroup_dir;
  /* The pod's network namespace (pod_network.h), or NULL: no NIC.  */
  const char *netns_path;
  /* A fixed rootfs VHD's disk bytes (opened as raw), or 0 (vpc).  */
  uint64_t rootfs_raw_size;
  const char *kernel_cmdline;
  const struct vmm_backend *backend;
  const struct shim_config *cfg;
  /* The shim executable, for the vmm-exec helper.  */
  const char *helper_exe;
  /* A live migration's destination (uvm_migration.h): the VMM waits for
     the source's state; nothing boots.  */
  bool incoming;
  /* Host directories shared into the VM (host_share.h; never for a
     migratable sandbox).  */
  bool host_share;
};

struct uvm_events
{
  /* The agent said hello (err NULL; for an incoming UVM: its VMM waits
     for the source's state), or the start failed (the VMM is being
     stopped; call uvm_destroy).  Always after uvm_start returned.  */
  void (*on_started) (void *data, const shim_error *err);
  /* After a successful start: the VMM exited and its log ended.  */
  void (*on_exited) (void *data, int64_t exit_status, int term_signal);
  /* A guest notification other than hello (a process exit); the JSON body.  */
  void (*on_notify) (void *data, const char *body, size_t len);
  /* Bytes of a guest process's stdout or stderr (len 0: its end).  */
  void (*on_stream) (void *data, uint32_t process, uint8_t stream,
                     const uint8_t *bytes, size_t len);
  /* The guest passed on n bytes of a process's stdin.  */
  void (*on_credit) (void *data, uint32_t process, uint8_t stream, uint32_t n);
};

/* A bridge response: the JSON body, or err (the guest's error, a timeout,
   or the guest gone).  */
typedef void (*uvm_reply_fn) (void *data, const char *body, size_t len,
                              const shim_error *err);
typedef void (*uvm_done_fn) (void *data, const shim_error *err);

int uvm_start (uv_loop_t *loop, const struct uvm_config *cfg,
               const struct uvm_events *events, void *data, struct uvm **out,
               shim_error **err);
int uvm_pid (const struct uvm *u);
/* Started to receive a live migration (uvm_config.incoming).  */
bool uvm_incoming (const struct uvm *u);
/* Signals the VMM.  SIGTERM asks for a stop and escalates to SIGKILL after
   the configured grace period.  */
int uvm_signal (struct uvm *u, int sig, shim_error **err);
/* Kills what is left, closes every handle, removes the state directory and
   uvm.json, frees u when libuv lets go.  No callback after this.  */
void uvm_destroy (struct uvm *u);
/* Sends a bridge request; reply is called once, with a DeadlineExceeded
   error after timeout_ms, or Unavailable if the guest goes away, but never
   after uvm_destroy.  */
int uvm_request (struct uvm *u, const char *body, uint32_t timeout_ms,
                 uvm_reply_fn reply, void *data, shim_error **err);
/* The streams of a process key the host chose: the guest's output for it
   is accepted from open to close (see bridge_conn.h).  */
void uvm_open_streams (struct uvm *u, uint32_t process);
void uvm_close_streams (struct uvm *u, uint32_t process);
/* Stream bytes for a guest process (stdin; len 0 ends it), and credit for
   bytes of its stdout/stderr the host has passed on.  */
int uvm_send_stream (struct uvm *u, uint32_t process, uint8_t stream,
                     const void *bytes, size_t len);
void uvm_send_credit (struct uvm *u, uint32_t process, uint8_t stream,
                      uint32_t n);
/* Container disks over QMP (only the QEMU backend has disks to add): a
   SCSI target held by the caller (the lowest free one; *target itself
   when it is not 0, for a live migration's destination), a raw image
   hot-added there read-only (LUN 0), and the target let go of again (a
   disk there is removed; the target is reused once QEMU let go of it).  */
int uvm_reserve_scsi_target (struct uvm *u, uint32_t *target,
                             shim_error **err);
int uvm_attach_disk (struct uvm *u, const char *image, uint32_t target,
                     uvm_done_fn done, void *data, shim_error **err);
void uvm_release_scsi_target (struct uvm *u, uint32_t target);

/* A host path bound into the VM's host share as options ask:
   *guest_path is where the guest sees it.  FailedPrecondition when the VM
   has no share.  */
int uvm_share_bind (struct uvm *u, const char *source,
                    const struct bind_options *options, char **guest_path,
                    shim_error **err);
void uvm_share_unbind (struct uvm *u, const char *guest_path);

/* The VMM process's CPU time (ns) and resident memory (bytes).  */
int uvm_usage (const struct uvm *u, uint64_t *cpu_ns, uint64_t *rss_bytes);

/* For the shim's delete action, when the daemon is gone: kills the VMM
   recorded in state_dir (only if it is still that same process) and removes
   the directory.  Returns the recorded pid, or 0.  helper_exe is the
   shim's executable (the pod network's teardown runs in its helper).  */
int uvm_cleanup_orphan (const char *state_dir, const char *helper_exe);
/* In the state directory: a symlink to the directory of the sandbox's
   uncached layer images, which the delete action removes too.  */
#define UVM_LAYER_SCRATCH_LINK "layer-scratch"

#endif
