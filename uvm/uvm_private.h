/* The UVM's record, shared by the four files that own its parts (and by
   nothing outside uvm/):
     uvm.c          the lifecycle (uvm_lifecycle.h): start and exit
                    sequencing, stop, destroy; the disks and usage calls
     uvm_launch.c   the VMM's launch: accelerator, command lines, boot
                    attempts and their watch (progress, stalls, run state)
     uvm_guest.c    the guest's connections: vsock listeners, entropy, the
                    guest log, the GCS bridge and its requests and streams
     uvm_record.c   the state on disk: uvm.json and vmm.pid  */
#ifndef LCOW_UVM_UVM_PRIVATE_H
#define LCOW_UVM_UVM_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "uvm/vmm/accel.h"
#include "uvm/bridge/bridge.h"
#include "proto/base/rate_limit.h"
#include "uvm/bridge/read_budget.h"
#include "uvm/podnet/pod_network.h"
#include "uvm.h"
#include "uvm_lifecycle.h"
#include "uvm_migration.h"
#include "uvm/migration/migration_phase.h"
#include "uvm/migration/vm_description.h"
#include "uvm/vmm/vcpu_sample.h"
#include "uvm/vmm/vmm_user.h"

struct bridge_conn;
struct disk_hotplug;
struct host_share;
struct gcs_log_parser;
struct qmp_client;
struct stream_conn;
struct vmm_process;
struct vsock_listener;

/* Live migration's part of the record (uvm_migration.c).  */
struct uvm_migration
{
  enum uvm_migration_phase phase;
  struct uvm_migration_progress progress;
  bool cancel_requested;
  /* The connection to the other side, until QEMU takes it (getfd).  */
  int stream_fd;
  uv_timer_t poll_timer;
  uint64_t deadline_ms;
  struct migration_listener *listener;
  /* Source: the connection being made to the destination.  */
  struct migration_dial *dial;
  /* TLS (migration_tls_dir, TCP only): the directory; the host the
     source's certificate check expects (the URI's).  */
  char *tls_dir;
  char *listen_address;
  bool tls;
  char tls_host[64];
  /* QEMU has its tls-creds-x509 object (added once per VMM).  */
  bool tls_object;
  uvm_handover_fn handover_done;
  void *handover_data;
  struct bridge_handover handover;
  bool handed_over;
  struct bridge_handover adopt;
  uvm_adopted_fn adopted;
  void *adopted_data;
  uint64_t adopted_uptime_ms;
  uint32_t max_bandwidth_mb;
  uint32_t downtime_limit_ms;
  uint32_t timeout_ms;
};

/* The guest's side (uvm_guest.c): its vsock listeners and connections,
   the bridge, the guest log, what the agent reported in its hello.  */
struct uvm_guest_part
{
  bool present;
  struct bridge_hello hello;
  /* An incoming VM's GCS connection, unread until a live migration adopts
     it (uvm_guest_adopt_bridge), or -1.  */
  int held_fd;
  struct vsock_listener *entropy_listener;
  /* Half-closed after the write; kept until the VMM exits (see
     on_entropy_conn).  */
  int entropy_fd;
  struct vsock_listener *log_listener;
  struct vsock_listener *gcs_listener;
  struct stream_conn *log_conn;
  struct gcs_log_parser *log_parser;
  struct bridge_conn *bridge;
  char *log_listener_address;
  uint32_t ports[3];
  size_t nports;
  uv_timer_t drain_timer;
  uv_timer_t log_report_timer;
  struct rate_limit log_rate;
  struct read_budget log_budget;
  /* The guest log ended (the exit waits for it).  */
  bool log_finished;
};

/* The VMM's side (uvm_launch.c): its process and QMP connection, each
   boot attempt under its accelerator, the watches on it, its exit.  */
struct uvm_launch_part
{
  /* What the first launch builds the VMM's command line from, kept while
     the pod network is being connected: the sandbox's, which outlive the
     UVM (uvm_config).  */
  const struct sandbox_options *opts;
  const struct shim_config *cfg;
  uint64_t rootfs_raw_size;
  struct vmm_process *vmm;
  char **vmm_argv;
  char **vmm_env;
  /* The accelerator of the running attempt, and the same VM's argv under
     TCG for a KVM attempt that may fall back.  */
  struct accel_choice accel;
  char **tcg_argv;
  unsigned boot_attempt;
  uint32_t tcg_boot_stall_ms;
  uint32_t kvm_progress_timeout_ms;
  /* This attempt's guest has run code (see guest_progressed).  */
  bool guest_progress;
  uint64_t attempt_started_ms;
  /* The livelock watch (see on_sample_tick).  */
  struct vcpu_sample last_sample;
  unsigned still_samples;
  bool sampling;
  /* Why this Create's KVM attempt failed, until the TCG relaunch; then
     fell_back.  */
  char *kvm_failure;
  bool fell_back;
  /* Who the VMM runs as, and why.  */
  struct vmm_user user;
  struct vmm_user_lease user_lease;
  char *user_reason;
  /* QEMU's QMP connection: run-state events, and the disks' commands.  */
  struct qmp_client *qmp;
  struct disk_hotplug *disks;
  char *qmp_path;
  char *qmp_operator_path;
  uv_timer_t start_timer;
  uv_timer_t stall_timer;
  uv_timer_t sample_timer;
  uv_timer_t progress_timer;
  /* The exit is reported once the VMM exited and the guest log ended, in
     either order.  */
  bool vmm_exited;
  int64_t exit_status;
  int term_signal;
};

/* The pod's network (uvm.c through uvm/podnet/): the namespace the VMM runs
   in, and the NIC connected there; NULL: none.  */
struct uvm_net_part
{
  char *netns_path;
  struct pod_nic nic;
  bool nic_connected;
};

/* The record: what the UVM is (uvm.c), its lifecycle state and handles
   (uvm_state.c), and one part per owner.  */
struct uvm
{
  uv_loop_t *loop;
  char *id;
  /* Started for a live migration's destination (uvm_config.incoming).  */
  bool incoming;
  bool live_migration;
  /* Migratable, the guest log relayed (sandbox_options.log_relay).  */
  bool log_relay;
  uint64_t memory_mb;
  uint32_t cpus;
  uint32_t stop_grace_ms;
  char *state_dir;
  char *state_root;
  /* The VMM's private directory (its sockets).  */
  char *vm_dir;
  char *uvm_json_path;
  char *vsock_uds;
  char *helper_exe;
  const struct vmm_backend *backend;
  char *vmm_path;
  char *kernel_cmdline;
  /* The boot files the VMM reads (for uvm_describe).  */
  char *boot_paths[VM_BOOT_FILES_MAX];
  size_t nboot_paths;
  /* The pod's cgroup the VMM runs in (pod_cgroup.h), or NULL.  */
  char *cgroup_dir;
  /* Host directories shared into the VM (host_share.h), or NULL.  */
  struct host_share *share;
  char *share_socket;
  const struct uvm_events *events;
  void *data;
  uv_timer_t grace_timer;

  enum uvm_state state;
  int open_handles;

  struct uvm_guest_part guest;
  struct uvm_launch_part launch;
  struct uvm_net_part net;
  struct uvm_migration migration;
};

/* The core's files, lowest first: each calls only those before it
   (uvm_lifecycle.c and uvm_record.c, uvm_state.c, uvm_guest.c,
   uvm_migration.c, uvm_launch.c, uvm.c; layer_set.c and
   container_rootfs.c use uvm.h only).  */

/* uvm_state.c */
/* Moves the lifecycle and logs it; false, changing nothing, for an event
   the current state does not take.  */
bool uvm_advance (struct uvm *u, enum uvm_event event);
void uvm_init_timer (struct uvm *u, uv_timer_t *t);
void uvm_on_handle_closed (uv_handle_t *h);
/* Frees u once it is destroyed and libuv let go of its last handle.  */
void uvm_maybe_free (struct uvm *u);
/* Reports the start (err NULL) or its failure, once.  */
void uvm_report_started (struct uvm *u, const shim_error *err);
void uvm_fail_start (struct uvm *u, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Reports the exit once the VMM exited and the guest log ended.  */
void uvm_maybe_report_exit (struct uvm *u);
/* The guest sent bytes: its code runs.  */
void uvm_note_progress (struct uvm *u);
void uvm_record_verdict (struct uvm *u);
void uvm_free_argv (char **argv);

/* uvm_guest.c */
void uvm_guest_init (struct uvm *u);
int uvm_bind_listeners (struct uvm *u, shim_error **err);
struct bridge_conn *uvm_connected_bridge (struct uvm *u);
/* A live migration's destination: the bridge goes on from the source's
   handover over the guest's held connection; NULL (err unset) when the
   guest never connected.  */
struct bridge_conn *uvm_guest_adopt_bridge (struct uvm *u,
                                            const struct bridge_handover *h,
                                            shim_error **err);
void uvm_guest_vmm_exited (struct uvm *u);
/* Closes the listeners and connections of a launch.  */
void uvm_guest_disconnect (struct uvm *u, bool destroyed);
void uvm_guest_close (struct uvm *u);

/* uvm_migration.c */
void uvm_migration_init (struct uvm *u, const struct shim_config *cfg);
void uvm_migration_close (struct uvm *u);
/* The VMM exited: a handover in progress completes, any other phase ends.  */
void uvm_migration_vmm_exited (struct uvm *u);

/* uvm_launch.c */
int uvm_choose_accel (struct uvm *u, enum accel_mode mode, shim_error **err);
int uvm_choose_user (struct uvm *u, const struct uvm_config *cfg,
                     shim_error **err);
int uvm_build_vmm_commands (struct uvm *u, shim_error **err);
int uvm_spawn_vmm (struct uvm *u, shim_error **err);
/* This attempt's boot cannot succeed: relaunch under TCG or fail.  */
void uvm_attempt_failed (struct uvm *u, const char *what);
/* After an attempt's VMM exited: the next attempt.  */
void uvm_relaunch (struct uvm *u);
void uvm_on_vmm_exit (void *data, int64_t status, int term_signal);
/* Kills what is left of the VMM and closes what its launch opened.  */
void uvm_drop_vm (struct uvm *u);

/* uvm_record.c */
const char *uvm_accel_name (const struct uvm *u);
int uvm_write_record (struct uvm *u, shim_error **err);
void uvm_record_vmm (struct uvm *u);

#endif
