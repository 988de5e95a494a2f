/* Sandbox (UVM) options from the sandbox spec's annotations over the shim
   configuration, with upstream's parsing semantics: unparsable booleans and
   integers fall back to their default with a warning; a few values are
   errors.  Pure except for the injected file-existence probe.  */
#ifndef LCOW_UVM_SANDBOX_OPTIONS_H
#define LCOW_UVM_SANDBOX_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel_cmdline.h"
#include "proto/base/error.h"
#include "proto/oci_spec.h"
#include "proto/base/strbuf.h"
#include "shim_config.h"

#define ANN_VM "io.microsoft.virtualmachine."
#define ANN_BOOT_FILES_ROOT_PATH ANN_VM "lcow.bootfilesrootpath"
#define ANN_BOOT_FILES_ROOT_PATH_MAIN ANN_VM "bootfilesrootpath"
#define ANN_KERNEL_DIRECT_BOOT ANN_VM "lcow.kerneldirectboot"
#define ANN_PROCESSOR_COUNT ANN_VM "computetopology.processor.count"
#define ANN_MEMORY_SIZE_MB ANN_VM "computetopology.memory.sizeinmb"
#define ANN_PREFERRED_ROOTFS_TYPE ANN_VM "lcow.preferredrootfstype"
#define ANN_VPCI_ENABLED ANN_VM "lcow.vpcienabled"
#define ANN_VPMEM_COUNT ANN_VM "devices.virtualpmem.maximumcount"
#define ANN_WRITABLE_OVERLAY ANN_VM "lcow.writable-overlay-directories"
#define ANN_TIMESYNC_DISABLE ANN_VM "lcow.timesync.disable"
#define ANN_KERNEL_BOOT_OPTIONS ANN_VM "lcow.kernelbootoptions"
#define ANN_CONSOLE_PIPE ANN_VM "console.pipe"
#define ANN_DMVERITY_MODE ANN_VM "lcow.dmverity-mode"
#define ANN_DMVERITY_CREATE_ARGS ANN_VM "lcow.dmverity-create-args"
#define ANN_VPMEM_NO_MULTI_MAPPING ANN_VM "lcow.vpmem.nomultimapping"
#define ANN_KERNEL_DRIVERS ANN_VM "kerneldrivers"
#define ANN_NCPROXY "io.microsoft.network.ncproxy"
#define ANN_PROCESS_DUMP_LOCATION "io.microsoft.container.processdumplocation"

enum rootfs_type
{
  ROOTFS_INITRD,
  ROOTFS_VHD,
};

struct sandbox_options
{
  char *boot_files_root_path;
  char *kernel_path;
  char *rootfs_path;
  enum rootfs_type rootfs;
  bool kernel_direct;
  uint32_t processor_count;
  uint64_t memory_mb;
  char *log_level;
  int scrub_logs;
  bool vpci_enabled;
  bool writable_overlay;
  bool disable_time_sync;
  char *kernel_boot_options;
  char *console_pipe;
  bool dm_verity;
  char *dm_verity_create_args;
  char *core_dump_location;
  bool live_migration;
  /* Migratable with the guest log relayed (migratable_log_relay).  */
  bool log_relay;
};

struct sandbox_options_env
{
  /* Logical CPUs of the host: the processor count is clamped to it.  */
  unsigned host_cpus;
  /* The host's memory (MB, 0 if unknown): the UVM's is clamped to it.  */
  uint64_t host_memory_mb;
  /* Whether dir/name exists (dir alone when name is NULL).  */
  bool (*exists) (const char *dir, const char *name);
  /* The pod's memory limit (MB, 0 if none), which the VMM is charged to:
     without a memory annotation the UVM gets what fits under it.  */
  uint64_t pod_memory_limit_mb;
};

/* What the VMM itself needs beside the guest's memory (QEMU, its TCG
   translation cache, the shim's share of the pod): left out of the pod's
   limit when the UVM is sized from it.  */
#define VMM_MEMORY_OVERHEAD_MB 192
/* The smallest UVM sized from a pod's limit.  */
#define UVM_MEMORY_MIN_MB 128

int sandbox_options_parse (const struct oci_spec *spec,
                           const struct shim_config *cfg, bool live_migration,
                           const struct sandbox_options_env *env,
                           struct sandbox_options *out, strbuf *warnings,
                           shim_error **err);
/* The kernel command line builder's input for these options.  */
void sandbox_options_cmdline_input (const struct sandbox_options *o,
                                    struct kernel_cmdline_input *in);
void sandbox_options_release (struct sandbox_options *o);

#endif
