/* Everything decided before a sandbox's UVM is started, in the order the
   project requires: the live-migration opt-in, then (migratable only) the
   UVM-shape annotation policy and the container checks on the sandbox's own
   spec, then the shim configuration, the sandbox options and the kernel
   command line.  A refusal here has created nothing.  */
#ifndef LCOW_SANDBOX_PLAN_H
#define LCOW_SANDBOX_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/base/error.h"
#include "proto/oci_spec.h"
#include "uvm/config/sandbox_options.h"
#include "uvm/config/shim_config.h"

struct sandbox_plan
{
  bool migratable;
  struct shim_config cfg;
  struct sandbox_options opts;
  char *kernel_cmdline;
  /* A fixed rootfs.vhd: its disk bytes, opened as raw; 0 for a dynamic
     one (vpc), which only a sandbox that is not migratable may use.  */
  uint64_t rootfs_raw_size;
  /* The pod's cgroup for the VMM (uvm/pod_cgroup.h), or NULL.  */
  char *cgroup_dir;
  /* The pod's network namespace (linux.namespaces network path), or NULL:
     no NIC (uvm/pod_network.h).  */
  char *netns_path;
  /* Host directories shared into the VM (uvm/host_share.h): a sandbox
     that is not migratable, under QEMU, with virtiofsd.  */
  bool host_share;
};

/* config_path: from the runtime options (NULL if none).  */
int sandbox_plan_build (const char *id, const struct oci_spec *spec,
                        const char *config_path, struct sandbox_plan *out,
                        shim_error **err);
void sandbox_plan_release (struct sandbox_plan *plan);

/* The container checks for a container joining a migratable sandbox.  */
int sandbox_check_container (const char *sandbox_id, const char *container_id,
                             const struct oci_spec *spec, shim_error **err);

#endif
