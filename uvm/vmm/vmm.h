/* The VMM backends' common description of a VM, and the command each
   backend derives from it (pure builders, one file per backend).  */
#ifndef LCOW_UVM_VMM_H
#define LCOW_UVM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/error.h"
#include "uvm/config/shim_config.h"
#include "uvm/vsock/vsock_port.h"

/* The fd the VMM finds the pod's TAP on (vmm_process.h).  */
#define VMM_TAP_FD 3

struct vmm_spec
{
  const char *sandbox_id;
  const char *kernel_path;
  /* Exactly one of these is set, by the rootfs type.  */
  const char *initrd_path;
  const char *rootfs_vhd_path;
  /* With rootfs_vhd_path: an initramfs that loads the block drivers and
     mounts root= (for kernels that build them as modules), or NULL.  */
  const char *loader_path;
  /* With rootfs_vhd_path: a fixed VHD's disk bytes, opened as raw (what
     migrates); 0 for the vpc driver.  */
  uint64_t rootfs_raw_size;
  const char *kernel_cmdline;
  /* The kernel has no ACPI (the boot files' kernel.acpi says "off"): the
     machine has none either, and the kernel names its virtio-mmio
     transports itself.  */
  bool acpi_off;
  uint32_t cpus;
  uint64_t memory_mb;
  /* Hybrid-vsock base path: the guest reaches host port P at <uds>_<P>.  */
  const char *vsock_uds;
  /* Host ports with a listener (guest-initiated connections).  */
  const uint32_t *host_ports;
  size_t nhost_ports;
  /* QEMU: the shim's control socket, one for operators (QEMU serves one
     client per socket, and the shim's stays connected); KVM or TCG.  */
  /* The pod's NIC: the MAC the guest's virtio-net device gets (NULL: no
     NIC); its TAP is VMM_TAP_FD, which the VMM's helper opens.  */
  const char *nic_mac;
  const char *qmp_socket;
  const char *qmp_operator_socket;
  bool kvm;
  /* QEMU under TCG: the translation buffer's size in MiB (0: QEMU's own,
     up to 1 GiB, which a long-running guest fills and keeps resident).  */
  uint32_t tcg_tb_size_mb;
  /* QEMU: waits for a live migration's state (-incoming defer).  */
  bool incoming;
  /* QEMU: virtiofsd's vhost-user socket for the host share (host_share.h),
     or NULL: none.  */
  const char *share_socket;
  const char *vmm_path;
  char *const *vmm_args;
  size_t nvmm_args;
};

struct vmm_command
{
  char **argv; /* NULL-terminated */
  char **env;  /* NULL-terminated "K=V" additions to the shim's environment */
};

struct vmm_backend
{
  const char *name;
  /* The vsock transport the backend's guests use.  */
  enum vsock_transport transport;
  /* SIGTERM asks the guest agent to power the VM off (the VMM is a whole
     machine), rather than signalling the VMM process.  */
  bool stop_via_guest;
  /* The VMM has a QMP socket: its run state is watched (a stopped VM ends
     the boot or the sandbox at once) and disks can be hot-added.  */
  bool qmp;
  /* It runs guest code under an accelerator (KVM or TCG).  */
  bool accelerated;
  /* It opens rootfs.vhd itself, by its VHD type (see vhd_footer.h).  */
  bool reads_vhd;
  /* It can give the VM the pod's NIC (pod_network.h).  */
  bool nic;
  int (*build) (const struct vmm_spec *spec, struct vmm_command *out,
                shim_error **err);
};

extern const struct vmm_backend vmm_backend_exec;
extern const struct vmm_backend vmm_backend_qemu;
/* The backend that runs a VMM of this kind.  */
const struct vmm_backend *vmm_backend_for (enum vmm_kind kind);

void vmm_command_release (struct vmm_command *cmd);

#endif
