/* The shim configuration file (JSON): which VMM, where the boot files are,
   default VM size and guest log settings.  Unknown keys and wrong types are
   errors naming the key.  */
#ifndef LCOW_UVM_SHIM_CONFIG_H
#define LCOW_UVM_SHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"

/* QEMU's accelerator as configured (uvm/vmm/accel.h decides).  */
enum accel_mode
{
  ACCEL_AUTO,
  ACCEL_KVM,
  ACCEL_TCG,
};

const char *accel_mode_name (enum accel_mode mode);
int accel_mode_parse (const char *s, enum accel_mode *out);

#define SHIM_CONFIG_DEFAULT_PATH "/etc/containerd-shim-lcow-v2/config.json"
#define SHIM_CONFIG_ENV "CONTAINERD_SHIM_LCOW_CONFIG"
#define SHIM_CONFIG_MAX_BYTES (1u << 20)
#define DEFAULT_BOOT_FILES_ROOT_PATH                                          \
  "/usr/local/share/containerd-shim-lcow-v2/bootfiles"
#define DEFAULT_QEMU_PATH "/usr/bin/qemu-system-x86_64"
/* Debian 12's qemu-system-common.  */
#define DEFAULT_VIRTIOFSD_PATH "/usr/lib/qemu/virtiofsd"
#define DEFAULT_LAYER_CACHE_DIR "/var/lib/containerd-shim-lcow-v2/layers"

enum vmm_kind
{
  VMM_KIND_QEMU,
  VMM_KIND_EXEC,
};

/* Who the VMM runs as (see vmm_user.h).  */
enum vmm_user_mode
{
  VMM_USER_AUTO,
  VMM_USER_ROOT,
  VMM_USER_FIXED,
};

struct shim_config
{
  enum vmm_kind vmm;
  char *vmm_path;
  /* virtiofsd, for host directory shares in pods that are not migratable
     (host_share.h); "": no shares.  */
  char *virtiofsd_path;
  enum vmm_user_mode vmm_user;
  uint32_t vmm_uid, vmm_gid;
  char **vmm_args;
  size_t nvmm_args;
  char *boot_files_root_path;
  /* Other boot file directories the sandbox annotation
     io.microsoft.virtualmachine.lcow.bootfilesrootpath may choose; it may
     name no other.  */
  char **boot_files_allowed;
  size_t nboot_files_allowed;
  /* Where pod files (/etc/hosts and the like) may be bound from (see
     policy/pod_file_binds.h).  */
  char **pod_file_roots;
  size_t npod_file_roots;
  uint32_t processor_count; /* 0: not set */
  uint64_t memory_mb;       /* 0: not set */
  char *log_level;          /* NULL: not set */
  int scrub_logs;           /* -1: not set */
  uint32_t gcs_connection_timeout_ms;
  uint32_t stop_grace_ms;
  /* QEMU under TCG: the last resort for a boot without progress, relaunched
     after this long (0: never; a guest that stands still is relaunched
     sooner).  See "Boots that hang" in uvm.c.  */
  uint32_t tcg_boot_stall_ms;
  /* QEMU under TCG: the translation buffer, MiB (0: QEMU's default).  */
  uint32_t tcg_tb_size_mb;
  /* QEMU's accelerator: auto (KVM where a guest has proven it runs guests,
     else TCG), kvm or tcg.  See accel.h.  */
  enum accel_mode accel;
  /* A KVM boot not yet proven on this host must connect its first port
     within this long, or the attempt has failed.  */
  uint32_t kvm_progress_timeout_ms;
  /* Read-only layer images, built once per host (see uvm/layer_cache.h):
     where, and how many MiB of images no sandbox uses may stay.  */
  char *layer_cache_dir;
  uint64_t layer_cache_max_mb;
  /* A container's writable layer: a guest tmpfs of at most this many MiB
     (a write beyond it fails with ENOSPC).  */
  uint32_t container_scratch_mb;
  /* Live migration (uvm_migration.h): QEMU's max-bandwidth (MiB/s) and
     downtime-limit, and how long a transfer may take before it is
     cancelled (the source keeps running).  */
  uint32_t migration_max_bandwidth_mb;
  uint32_t migration_downtime_limit_ms;
  uint32_t migration_timeout_ms;
  /* How long an exported source (frozen) or an importing destination
     waits for the transfer to start: an orchestrator that died must not
     leave the pod frozen (the source runs on, the destination stops).  */
  uint32_t migration_prepare_timeout_ms;
  /* Destination: listen for the VM's state on TCP at this "HOST:PORT"
     (numeric; port 0 picks one) instead of a unix socket; NULL: unix.
     With migration_tls_dir, over QEMU's TLS (x509, both peers verified):
     the directory holds ca-cert.pem and the server's and/or client's
     certificate and key, readable by the VMM's user.  */
  char *migration_listen_address;
  char *migration_tls_dir;
  /* A migratable sandbox keeps its guest log: the guest's forwarder
     redials after a move (vsockexec -r, upstream's newer behaviour) and
     the log port is bound on both sides.  Off: as the PR design, no
     forwarder and no listener.  */
  bool migratable_log_relay;
  /* Where the configuration came from ("built-in defaults" or a path).  */
  char *source;
};

void shim_config_defaults (struct shim_config *cfg);
int shim_config_parse (const char *buf, size_t len, struct shim_config *cfg,
                       shim_error **err);
/* The configuration in force: path (from the runtime options) if given,
   else $CONTAINERD_SHIM_LCOW_CONFIG, else the default path; a missing
   default file means built-in defaults.  */
int shim_config_load (const char *path, struct shim_config *cfg,
                      shim_error **err);
void shim_config_release (struct shim_config *cfg);

#endif
