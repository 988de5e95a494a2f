/* The guest kernel command line, byte for byte as hcsshim's v2 LCOW builder
   produces it (rootfs, blacklist, console, boot options, pci, cpus, then
   init's arguments and the GCS command).  Pure.  */
#ifndef LCOW_UVM_KERNEL_CMDLINE_H
#define LCOW_UVM_KERNEL_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/error.h"

#define LINUX_ENTROPY_VSOCK_PORT 1u
#define LINUX_LOG_VSOCK_PORT 109u
#define LINUX_GCS_VSOCK_PORT 0x40000000u
#define LINUX_ENTROPY_BYTES 512u
#define INITRD_FILE "initrd.img"
#define VHD_FILE "rootfs.vhd"
#define KERNEL_FILE "kernel"
#define UNCOMPRESSED_KERNEL_FILE "vmlinux"
/* x86 COMMAND_LINE_SIZE, including the terminating NUL.  */
#define KERNEL_CMDLINE_MAX 2048

struct kernel_cmdline_input
{
  /* Base name of the rootfs file: initrd.img, rootfs.vhd or other.  */
  const char *rootfs_name;
  bool kernel_direct;
  bool dm_verity;
  const char *dm_verity_create_args;
  bool console;
  const char *kernel_boot_options;
  bool vpci_enabled;
  uint32_t processor_count;
  bool writable_overlay;
  /* NULL means info.  */
  const char *log_level;
  /* -1 unset, 0 false, 1 true.  */
  int scrub_logs;
  bool disable_time_sync;
  const char *core_dump_location;
  bool live_migration;
  /* Migratable, the log relayed: upstream's newer command.  */
  bool log_relay;
};

/* The GCS command: [/bin/vsockexec [-r ]-e 109 ]/bin/gcs -v4 ...: the
   wrapper when not migratable, its relay mode (-r) when migratable with
   log_relay, none otherwise.  */
char *kernel_cmdline_gcs_command (const struct kernel_cmdline_input *in);
int kernel_cmdline_build (const struct kernel_cmdline_input *in, char **out,
                          shim_error **err);
/* Go's %q of s, as the builder quotes dm-verity arguments.  */
char *go_quote (const char *s);

#endif
