/* Which accelerator a QEMU VM runs under, and why.  /dev/kvm opening
   proves nothing (nested hosts whose KVM cannot run guests exist), so under
   "auto" only a guest that booted under KVM proves it works; the finding is
   the host verdict, kept per QEMU binary in the shim's state root and
   invalidated when the host reboots, the KVM modules are reloaded or QEMU
   changes.  accel_choose is pure; the verdict functions do the file I/O.  */
#ifndef LCOW_UVM_ACCEL_H
#define LCOW_UVM_ACCEL_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/base/error.h"
#include "uvm/config/shim_config.h"

enum kvm_verdict
{
  KVM_UNKNOWN,
  KVM_WORKS,
  KVM_BROKEN,
};

struct host_verdict
{
  enum kvm_verdict kvm;
  char *reason; /* NULL when unknown */
};

struct accel_choice
{
  bool kvm;
  /* A KVM attempt whose boot must show progress in time (KVM not yet
     proven on this host): a failure falls back to TCG under auto.  */
  bool on_trial;
  /* Under auto, a failed KVM attempt is relaunched under TCG.  */
  bool may_fall_back;
  char *reason;
};

/* kvm_errno: 0 when /dev/kvm opens read-write, else the errno.  Fails only
   for accel=kvm without a usable /dev/kvm (FailedPrecondition).  */
int accel_choose (enum accel_mode mode, int kvm_errno,
                  const struct host_verdict *verdict, struct accel_choice *out,
                  shim_error **err);
void accel_choice_release (struct accel_choice *c);

/* 0 or the errno of opening /dev/kvm read-write.  */
int accel_kvm_errno (void);

/* The verdict recorded for this host and QEMU binary, KVM_UNKNOWN when
   none is, or it was made before a reboot, a KVM module reload or a change
   of the binary.  */
void host_verdict_load (const char *state_root, const char *vmm_path,
                        struct host_verdict *out);
int host_verdict_store (const char *state_root, const char *vmm_path,
                        enum kvm_verdict kvm, const char *reason,
                        shim_error **err);
void host_verdict_release (struct host_verdict *v);
/* The file a verdict for vmm_path lives in (for tests and operators).  */
char *host_verdict_path (const char *state_root, const char *vmm_path);

/* Pure: the verdict file's text, and back (-1 on anything malformed).  */
char *host_verdict_format (const char *host_id, enum kvm_verdict kvm,
                           const char *reason);
int host_verdict_parse (const char *text, size_t len, const char *host_id,
                        struct host_verdict *out);

#endif
