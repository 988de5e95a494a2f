/* The unprivileged identity a VMM runs as.  QEMU is the largest piece of
   code a guest can reach; run as root with every capability, any device
   model or TCG bug it exposes is host root.  So each sandbox's VMM gets
   its own uid and gid ("auto": VMM_USER_UID_BASE plus 24 bits of the
   sandbox's state directory name, so two pods' QEMUs cannot signal or
   trace each other), or one the configuration names ("UID:GID"), or root
   when configured so.  The shim opens what only it may reach and passes
   the descriptors (container disks); what QEMU opens itself (boot files)
   must be readable by that identity, else the VMM runs as root and the
   log says why.  */
#ifndef LCOW_UVM_VMM_USER_H
#define LCOW_UVM_VMM_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/base/error.h"
#include "shim_config.h"

#define VMM_USER_UID_BASE 0x7f000000u

struct vmm_user
{
  uid_t uid;
  gid_t gid;
  /* /dev/kvm's group, as a supplementary group (0: none).  */
  gid_t kvm_gid;
};

/* The identity for a sandbox whose state directory is named state_name
   (it looks only at /dev/kvm's group).  */
void vmm_user_choose (const struct shim_config *cfg, const char *state_name,
                      struct vmm_user *out);
/* Whether every path is readable by u (an open under its fs ids); if not,
 *why names the first that is not.  */
bool vmm_user_can_read (const struct vmm_user *u, const char *const *paths,
                        size_t n, char **why);
/* Makes dir (created 0700 if missing) u's own.  */
int vmm_user_own (const struct vmm_user *u, const char *dir, shim_error **err);
/* "uid:gid[:kvm_gid]", the helper's --user argument (static buffer).  */
const char *vmm_user_arg (const struct vmm_user *u);
/* Parses the helper's --user argument.  */
int vmm_user_parse_arg (const char *s, struct vmm_user *out);
/* In the helper, before exec: the groups, gid and uid of u, and no way
   back (no new privileges).  Returns -1 with errno.  */
int vmm_user_become (const struct vmm_user *u);

#endif
