/* What a VM is, for live migration (pure: no I/O): the facts the source
   exports and the destination compares with its own VM before anything
   moves.  Two VMs are compatible when every fact agrees; paths may
   differ, contents (by hash) may not.  */
#ifndef LCOW_UVM_VM_DESCRIPTION_H
#define LCOW_UVM_VM_DESCRIPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"

#define VM_BOOT_FILES_MAX 4

struct vm_boot_file
{
  /* The file's name in the boot files directory (kernel, rootfs.vhd...).  */
  char *name;
  char sha256[65];
  uint64_t bytes;
};

struct vm_description
{
  char *vmm;
  char *qemu_version;
  char *accel;
  char *cpu_model;
  char *machine;
  uint32_t cpus;
  uint64_t memory_mb;
  char *kernel_cmdline;
  struct vm_boot_file boot_files[VM_BOOT_FILES_MAX];
  size_t nboot_files;
  bool network;
  /* Facts about this side, not compared.  */
  uint64_t guest_uptime_ms;
  uint32_t bridge_next_request_id;
  uint32_t bridge_open_streams;
};

/* The -cpu model and the -machine type of a QEMU argv (malloc'd; "" when
   absent).  */
void vm_description_from_argv (char *const *argv, char **cpu_model,
                               char **machine);
/* 0 when dst can take src's state; else -1 with FailedPrecondition naming
   every fact that differs, with both values.  */
int vm_description_compare (const struct vm_description *src,
                            const struct vm_description *dst,
                            shim_error **err);
void vm_description_release (struct vm_description *d);

#endif
