/* The exec backend: runs a configured program as the VMM and describes the
   VM to it in LCOW_* environment variables.  Pure.  */
#include <stdlib.h>
#include <string.h>

#include "proto/base/xalloc.h"
#include "vmm.h"

static int
exec_build (const struct vmm_spec *spec, struct vmm_command *out,
            shim_error **err)
{
  if (spec->vmm_path == NULL || *spec->vmm_path == '\0')
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "the exec VMM needs vmm_path in the shim "
                           "configuration");
  out->argv = xzalloc ((spec->nvmm_args + 2) * sizeof (char *));
  out->argv[0] = xstrdup (spec->vmm_path);
  for (size_t i = 0; i < spec->nvmm_args; i++)
    out->argv[i + 1] = xstrdup (spec->vmm_args[i]);

  out->env = xzalloc (9 * sizeof (char *));
  size_t n = 0;
  out->env[n++] = xasprintf ("LCOW_SANDBOX_ID=%s", spec->sandbox_id);
  out->env[n++] = xasprintf ("LCOW_KERNEL_CMDLINE=%s", spec->kernel_cmdline);
  out->env[n++] = xasprintf ("LCOW_KERNEL=%s", spec->kernel_path);
  if (spec->initrd_path != NULL)
    out->env[n++] = xasprintf ("LCOW_INITRD=%s", spec->initrd_path);
  else
    out->env[n++] = xasprintf ("LCOW_ROOTFS_VHD=%s", spec->rootfs_vhd_path);
  out->env[n++] = xasprintf ("LCOW_CPUS=%u", spec->cpus);
  out->env[n++] = xasprintf ("LCOW_MEMORY_MB=%llu",
                             (unsigned long long) spec->memory_mb);
  out->env[n++] = xasprintf ("LCOW_VSOCK_UDS=%s", spec->vsock_uds);
  return 0;
}

const struct vmm_backend vmm_backend_exec = {
  .name = "exec",
  .transport = VSOCK_TRANSPORT_HYBRID,
  .build = exec_build,
};

void
vmm_command_release (struct vmm_command *cmd)
{
  for (size_t i = 0; cmd->argv && cmd->argv[i]; i++)
    free (cmd->argv[i]);
  for (size_t i = 0; cmd->env && cmd->env[i]; i++)
    free (cmd->env[i]);
  free (cmd->argv);
  free (cmd->env);
  cmd->argv = cmd->env = NULL;
}

const struct vmm_backend *
vmm_backend_for (enum vmm_kind kind)
{
  return kind == VMM_KIND_QEMU ? &vmm_backend_qemu : &vmm_backend_exec;
}
