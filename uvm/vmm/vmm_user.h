/* The unprivileged identity a VMM runs as.  QEMU is the largest piece of
   code a guest can reach; run as root with every capability, any device
   model or TCG bug it exposes is host root.  So each sandbox's VMM gets
   its own uid and gid ("auto": from VMM_USER_UID_BASE plus 24 bits of the
   sandbox's state directory name, the first one no live sandbox holds),
   or the one the configuration names ("UID:GID", one live sandbox at a
   time), or root when configured so.  A uid is held by a lease: a lock
   file per uid (flock) that the sandbox's shim keeps open while its VMM
   may run, so two live pods' QEMUs never share a uid (they cannot signal,
   trace or reach each other's sockets).  The shim opens what only it may
   reach and passes the descriptors (container disks); what QEMU opens
   itself (boot files) must be readable by that identity, else the sandbox
   fails, saying so: the VMM runs as root only when configured so.  */
#ifndef LCOW_UVM_VMM_USER_H
#define LCOW_UVM_VMM_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/base/error.h"
#include "uvm/config/shim_config.h"

#define VMM_USER_UID_BASE 0x7f000000u

struct vmm_user
{
  uid_t uid;
  gid_t gid;
  /* /dev/kvm's group, as a supplementary group (0: none).  */
  gid_t kvm_gid;
};

/* In the shim's state root: the leases' lock files.  */
#define VMM_USER_LEASE_DIR "vmm-uids"
/* How many uids "auto" tries past its first choice.  */
#define VMM_USER_PROBES 4096u

/* The uid a sandbox holds while it lives (fd -1: none).  */
struct vmm_user_lease
{
  int fd;
  char *path;
};

/* The identity for a sandbox whose state directory is named state_name,
   before any lease (it looks only at /dev/kvm's group).  */
void vmm_user_choose (const struct shim_config *cfg, const char *state_name,
                      struct vmm_user *out);
/* The identity, with its uid leased in lock_dir (created 0700): "auto"
   takes the first free uid from its choice on, "UID:GID" fails
   (FailedPrecondition) while another sandbox holds it, root holds
   nothing.  */
int vmm_user_lease (const struct shim_config *cfg, const char *state_name,
                    const char *lock_dir, struct vmm_user *out,
                    struct vmm_user_lease *lease, shim_error **err);
/* Lets the uid go (its VMM is gone); the lock file is removed.  */
void vmm_user_lease_release (struct vmm_user_lease *lease);
/* For the delete action after a crash: uid's lock file removed if no
   sandbox holds it (a crashed shim's lock went with its fds).  */
void vmm_user_lease_cleanup_orphan (const char *lock_dir, uid_t uid);
/* Whether every path is readable by u (an open under its fs ids); if not,
 *why names the first that is not.  */
bool vmm_user_can_read (const struct vmm_user *u, const char *const *paths,
                        size_t n, char **why);
/* Makes dir (created 0700 if missing) u's own.  */
int vmm_user_own (const struct vmm_user *u, const char *dir, shim_error **err);
/* Gives the socket or file at path to u, through an fd that did not
   follow a symlink: the VMM's uid owns the directory it is in.  */
int vmm_user_give (const struct vmm_user *u, const char *path,
                   shim_error **err);
/* "uid:gid[:kvm_gid]", the helper's --user argument (static buffer).  */
const char *vmm_user_arg (const struct vmm_user *u);
/* Parses the helper's --user argument.  */
int vmm_user_parse_arg (const char *s, struct vmm_user *out);
/* In the helper, before exec: the groups, gid and uid of u, and no way
   back (no new privileges).  Returns -1 with errno.  */
int vmm_user_become (const struct vmm_user *u);

#endif
