/* Runs a VMM command as a child of the shim that cannot outlive it: the
   command is exec'd through the shim's own "vmm-exec" helper, which takes
   on the VMM's user (vmm_user.h) and sets PR_SET_PDEATHSIG before exec.  The
   child's stdout and stderr go into the shim log, line by line; its exit is
   reported after that output has ended.  */
#ifndef LCOW_UVM_VMM_PROCESS_H
#define LCOW_UVM_VMM_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"
#include "vmm.h"

struct vmm_process;

typedef void (*vmm_exit_fn) (void *data, int64_t exit_status, int term_signal);

struct vmm_user;

/* Where the VMM runs besides its user: the pod's cgroup (pod_cgroup.h)
   and network namespace (pod_network.h), and the TAP there the helper
   opens as VMM_TAP_FD (/dev/net/tun is root's); NULL: none.  */
struct vmm_placement
{
  const char *cgroup_dir;
  const char *netns_path;
  const char *tap;
  /* An fd the command gets as fd 3 (a helper daemon's listening socket:
     virtiofsd's --fd), or -1; not with tap.  */
  int inherit_fd;
  /* A user namespace of its own, every id mapped to itself: a command
     that must stay root (files keep their owners) holds no capability in
     the host's namespaces.  */
  bool own_user_namespace;
  /* A mount namespace of its own whose /proc shows only the processes of
     the command's own uid (hidepid): it cannot see the host's other
     processes, their command lines or their namespaces.  */
  bool own_mount_namespace;
};

/* helper: the shim executable (argv[0] of the helper process), which
   takes the placement and becomes user before it execs the command.  */
int vmm_process_spawn (uv_loop_t *loop, const char *helper,
                       const struct vmm_command *cmd,
                       const struct vmm_user *user,
                       const struct vmm_placement *place, const char *log_name,
                       vmm_exit_fn on_exit, void *data,
                       struct vmm_process **out, shim_error **err);
/* The helper's argv for cmd placed as place asks: helper, "vmm-exec",
   the user and the placement's flags, "--", cmd's argv, then NULL (the
   strings are the caller's; free the array).  */
char **vmm_process_argv (const char *helper, const struct vmm_command *cmd,
                         const struct vmm_user *user,
                         const struct vmm_placement *place);
int vmm_process_pid (const struct vmm_process *p);
/* The VMM's first stderr line that is not a warning, or NULL.  */
const char *vmm_process_first_error (const struct vmm_process *p);
int vmm_process_kill (struct vmm_process *p, int sig, shim_error **err);
/* Kills the process if it still runs (SIGKILL), closes every handle and
   frees p once libuv lets go; on_exit is not called after this.  */
void vmm_process_destroy (struct vmm_process *p);

/* The helper's entry point: argv = { "vmm-exec", "--user", "U:G:K",
   ["--cgroup", DIR,] ["--netns", PATH,] ["--tap", NAME,] ["--userns",]
   ["--mountns",] "--", prog, args... }.  Only returns on failure.  */
int vmm_exec_helper_main (int argc, char **argv);

#endif
