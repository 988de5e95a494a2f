/* A container's processes: forked held (namespaces joined or made,
   root, terminal, capabilities, rlimits, user), started by the agent.  */
#include "container_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"
#include "capabilities.h"
#include "cgroup_resources.h"
#include "device_filter.h"
#include "network.h"
#include "pid_namespace.h"
#include "pod_namespaces.h"
#include "rootfs_path.h"
#include "seccomp_profile.h"
#include "sysctl.h"
#include "guest_io.h"
#include "policy/sysctl_policy.h"
#include "proto/base/cleanup.h"
#include "proto/base/fd_pass.h"
#include "proto/base/file_io.h"
#include "proto/mount_options.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* The spec names the pod's namespace of that type (the host lets a spec
   name no other: policy/namespace_policy.h).  */
static bool
in_pod_namespace (const struct container *c, const char *type)
{
  const struct oci_namespace *ns = oci_spec_namespace (c->spec, type);
  return ns != NULL && ns->path != NULL;
}

/* ---- in the forked child ---------------------------------------------- */

/* A child's setup error goes to the status pipe and ends it.  */
__attribute__ ((noreturn)) void
child_fail (int status_fd, const char *what)
{
  char msg[1024];
  int n = snprintf (msg, sizeof msg, "%s: %s", what, strerror (errno));
  write_all (status_fd, msg, (size_t) (n < 0 ? 0 : n));
  _exit (127);
}

static const struct
{
  const char *name;
  int resource;
} rlimit_names[] = {
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_STACK", RLIMIT_STACK },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* As runc: without no_new_privs the filter goes in while the process may
   still load one (CAP_SYS_ADMIN), else last, so that it needs to allow
   only what follows.  */
static void
apply_process (const struct oci_process *p, const struct capability_plan *caps,
               unsigned last_cap, const struct oci_seccomp *seccomp,
               int status_fd)
{
  if (p->has_oom_score_adj)
    {
      char adj[16];
      snprintf (adj, sizeof adj, "%d", p->oom_score_adj);
      if (write_text ("/proc/self/oom_score_adj", adj) < 0)
        child_fail (status_fd, "set the OOM score adjustment");
    }
  for (size_t i = 0; i < p->nrlimits; i++)
    {
      size_t k = 0;
      while (k < sizeof rlimit_names / sizeof rlimit_names[0]
             && (p->rlimits[i].type == NULL
                 || strcmp (rlimit_names[k].name, p->rlimits[i].type) != 0))
        k++;
      errno = EINVAL;
      struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
      if (k == sizeof rlimit_names / sizeof rlimit_names[0]
          || setrlimit (rlimit_names[k].resource, &rl) < 0)
        child_fail (status_fd,
                    p->rlimits[i].type ? p->rlimits[i].type : "rlimit");
    }
  if (p->cwd != NULL && chdir (p->cwd) < 0)
    child_fail (status_fd, p->cwd);
  if (seccomp != NULL && !p->no_new_privileges
      && seccomp_profile_load (seccomp) < 0)
    child_fail (status_fd, "load the seccomp filter");
  if (capability_plan_apply_before_user (caps, last_cap) < 0)
    child_fail (status_fd, "drop the bounding capabilities");
  if (setgroups (p->nadditional_gids, p->additional_gids) < 0
      || setgid (p->gid) < 0 || setuid (p->uid) < 0)
    child_fail (status_fd, "set the user");
  if (capability_plan_apply_after_user (caps) < 0)
    child_fail (status_fd, "set the capabilities");
  if (p->no_new_privileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    child_fail (status_fd, "set no_new_privs");
  if (seccomp != NULL && p->no_new_privileges
      && seccomp_profile_load (seccomp) < 0)
    child_fail (status_fd, "load the seccomp filter");
  clearenv ();
  for (size_t i = 0; i < p->nenv; i++)
    putenv (p->env[i]);
}

/* Joins the namespaces and root of the container's init.  */
static void
join_container (pid_t init, int status_fd)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/root", init);
  int root = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    child_fail (status_fd, "the container's init is gone");
  static const struct
  {
    const char *ns;
    int type;
  } nss[] = { { "ipc", CLONE_NEWIPC },
              { "uts", CLONE_NEWUTS },
              { "cgroup", CLONE_NEWCGROUP },
              { "mnt", CLONE_NEWNS } };
  for (size_t i = 0; i < sizeof nss / sizeof nss[0]; i++)
    {
      snprintf (path, sizeof path, "/proc/%d/ns/%s", init, nss[i].ns);
      int fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns (fd, nss[i].type) < 0)
        child_fail (status_fd, path);
      close (fd);
    }
  if (fchdir (root) < 0 || chroot (".") < 0 || chdir ("/") < 0)
    child_fail (status_fd, "enter the container's root");
  close (root);
}

/* A terminal's master goes to the agent over the console socket.  */
static int
send_fd (int sock, int fd)
{
  char byte = 0;
  return fd_pass_send (sock, &byte, 1, fd) == 1 ? 0 : -1;
}

/* The fd sent by send_fd, or -1 (the child failed before sending).  */
static int
recv_fd (int sock)
{
  char byte;
  struct iovec iov = { &byte, 1 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf };
  ssize_t n;
  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  struct cmsghdr *cm = n == 1 ? CMSG_FIRSTHDR (&msg) : NULL;
  if (cm == NULL || cm->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd;
  memcpy (&fd, CMSG_DATA (cm), sizeof fd);
  return fd;
}

/* The process's terminal comes from the container's own devpts, as runc
   makes it, so that its name resolves inside (tty, ttyname); the master
   goes to the agent.  */
static void
take_terminal (int console_fd, int status_fd)
{
  int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  const char *slave = NULL;
  if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0
      || (slave = ptsname (master)) == NULL)
    child_fail (status_fd, "allocate a terminal (a devpts at /dev/pts?)");
  int s = open (slave, O_RDWR);
  if (s < 0 || ioctl (s, TIOCSCTTY, 0) < 0)
    child_fail (status_fd, "open the terminal");
  if (send_fd (console_fd, master) < 0)
    child_fail (status_fd, "pass the terminal to the agent");
  close (master);
  close (console_fd);
  dup2 (s, 0), dup2 (s, 1), dup2 (s, 2);
  if (s > 2)
    close (s);
}

static __attribute__ ((noreturn)) void
child_main (struct container *c, const struct oci_process *p,
            const struct capability_plan *caps, unsigned last_cap, bool init,
            int console_fd, const int stdio[3], int start_fd, int status_fd)
{
  sigset_t all;
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  signal (SIGPIPE, SIG_DFL);
  setsid ();
  if (console_fd < 0)
    dup2 (stdio[0], 0), dup2 (stdio[1], 1), dup2 (stdio[2], 2);
  cleanup_free char *procs = xasprintf ("%s/cgroup.procs", c->cgroup);
  if (write_text (procs, "0") < 0)
    child_fail (status_fd, "join the container's cgroup");
  if (init)
    {
      int flags
          = CLONE_NEWNS
            | (oci_spec_namespace (c->spec, "cgroup") ? CLONE_NEWCGROUP : 0);
      /* The pod's UTS and IPC namespaces when the spec names them, else
         new ones.  */
      static const struct
      {
        const char *type;
        enum pod_ns pod;
        int flag;
      } shareable[] = { { "uts", POD_NS_UTS, CLONE_NEWUTS },
                        { "ipc", POD_NS_IPC, CLONE_NEWIPC } };
      for (size_t i = 0; i < sizeof shareable / sizeof shareable[0]; i++)
        if (!in_pod_namespace (c, shareable[i].type))
          flags |= shareable[i].flag;
        else if (setns (pod_namespace_fd (shareable[i].pod), shareable[i].flag)
                 < 0)
          child_fail (status_fd, "join the pod's namespaces");
      if (unshare (flags) < 0
          || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail (status_fd, "new namespaces");
      if (c->spec->hostname != NULL
          && sethostname (c->spec->hostname, strlen (c->spec->hostname)) < 0)
        child_fail (status_fd, "set the hostname");
      int root = open (c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root < 0)
        child_fail (status_fd, "open the root filesystem");
      mount_spec (c, root, status_fd);
      make_devices (root);
      make_spec_devices (c, root, status_fd);
      close (root);
      enter_root (c->rootfs, c->spec->root_readonly, status_fd);
      /* As runc: the sysctls before /proc/sys is made read-only.  */
      const char *key;
      if (sysctl_apply (c->spec->sysctls, c->spec->nsysctls, &key) < 0)
        child_fail (status_fd, key);
      protect_paths (c->spec, status_fd);
    }
  else
    join_container (c->init_pid, status_fd);
  if (console_fd >= 0)
    take_terminal (console_fd, status_fd);
  apply_process (p, caps, last_cap, c->spec->seccomp, status_fd);
  /* Ready; wait for start (EOF: the process is being deleted).  */
  char b = 0;
  write_all (status_fd, &b, 1);
  if (read (start_fd, &b, 1) != 1)
    _exit (0);
  execvp (p->args[0], p->args);
  child_fail (status_fd, p->args[0]);
}

/* ---- in the agent ------------------------------------------------------- */

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* What is refused before anything starts, naming every item at fault:
   capabilities, sysctls, the seccomp profile; and the pod's namespaces an
   init joins, made if they are not yet.  */
static int
check_process (struct container *c, const struct oci_process *p, bool init,
               unsigned last_cap, struct capability_plan *caps,
               shim_error **err)
{
  if (p->nargs == 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "process has no args");
  strbuf bad = STRBUF_INIT;
  int r = 0;
  if (capability_plan_build (p, last_cap, caps, &bad) < 0)
    r = shim_error_set (err, GRPC_INVALID_ARGUMENT, "process.capabilities: %s",
                        bad.data);
  else if (init
           && sysctl_policy_check (c->spec->sysctls, c->spec->nsysctls, &bad)
                  < 0)
    r = shim_error_set (err, GRPC_INVALID_ARGUMENT, "linux.sysctl: %s",
                        bad.data);
  else if (c->spec->seccomp != NULL
           && seccomp_profile_check (c->spec->seccomp, &bad) < 0)
    r = shim_error_set (err, GRPC_INVALID_ARGUMENT, "linux.seccomp: %s",
                        bad.data);
  strbuf_release (&bad);
  if (r == 0 && init
      && (in_pod_namespace (c, "pid") || in_pod_namespace (c, "uts")
          || in_pod_namespace (c, "ipc")))
    r = pod_namespaces_ensure (c->pod_hostname, c->pod_sysctls,
                               c->npod_sysctls, err);
  return r;
}

/* The held child reports ready (one NUL byte) or why its setup failed.  */
static int
await_setup (int status_fd, const char *what, shim_error **err)
{
  char msg[1024];
  ssize_t n;
  do
    n = read (status_fd, msg, sizeof msg - 1);
  while (n < 0 && errno == EINTR);
  if (n == 1 && msg[0] == '\0')
    return 0;
  msg[n > 0 ? n : 0] = '\0';
  return shim_error_set (err, GRPC_FAILED_PRECONDITION, "set up %s: %s", what,
                         n > 0 ? msg : "the process died");
}

int
container_spawn (struct container *c, const struct oci_process *p,
                 struct held_process *out, shim_error **err)
{
  bool init = p == NULL;
  if (init)
    p = c->spec->process;
  if (!init && c->init_pid == 0)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "container %s has no running init process", c->id);
  struct capability_plan caps;
  unsigned last_cap = capability_last_cap ();
  if (check_process (c, p, init, last_cap, &caps, err) < 0)
    return -1;

  *out = (struct held_process){ .pid = -1,
                                .stdin_fd = -1,
                                .stdout_fd = -1,
                                .stderr_fd = -1,
                                .start_fd = -1,
                                .status_fd = -1,
                                .tty = p->terminal };
  int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 };
  int start[2] = { -1, -1 }, status[2] = { -1, -1 };
  int console[2] = { -1, -1 };
  int master = -1;
  int ok = pipe2 (start, O_CLOEXEC) == 0 && pipe2 (status, O_CLOEXEC) == 0;
  if (ok && p->terminal)
    ok = socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) == 0;
  else if (ok)
    ok = pipe2 (in, O_CLOEXEC) == 0 && pipe2 (o, O_CLOEXEC) == 0
         && pipe2 (e, O_CLOEXEC) == 0;
  /* The init is born in a new PID namespace or the pod's, an exec in its
     container's.  */
  enum pid_ns_kind ns_kind = !init                         ? PID_NS_OF_PROCESS
                             : in_pod_namespace (c, "pid") ? PID_NS_POD
                                                           : PID_NS_NEW;
  if (ok && pid_ns_prepare (ns_kind, c->init_pid) < 0)
    {
      shim_error_errno (err, GRPC_INTERNAL, errno, "enter the PID namespace");
      pid_ns_restore ();
      ok = false;
    }
  pid_t pid = ok ? fork () : -1;
  if (ok)
    pid_ns_restore ();
  if (pid == 0)
    {
      int stdio[3] = { in[0], o[1], e[1] };
      close (start[1]);
      close (status[0]);
      close (console[0]);
      child_main (c, p, &caps, last_cap, init, console[1], stdio, start[0],
                  status[1]);
    }
  int saved = errno;
  close_fd (&in[0]), close_fd (&o[1]), close_fd (&e[1]);
  close_fd (&start[0]), close_fd (&status[1]), close_fd (&console[1]);
  /* A terminal's master arrives first, unless the setup failed before.  */
  if (pid > 0 && console[0] >= 0)
    master = recv_fd (console[0]);
  close_fd (&console[0]);
  out->pid = pid;
  out->start_fd = start[1];
  out->status_fd = status[0];
  out->stdin_fd = master >= 0 ? master : in[1];
  out->stdout_fd = master >= 0 ? master : o[0];
  out->stderr_fd = e[0];
  if (pid < 0)
    {
      errno = saved;
      if (*err == NULL)
        shim_error_errno (err, GRPC_INTERNAL, errno, "fork %s", p->args[0]);
      goto fail;
    }
  if (await_setup (out->status_fd, p->args[0], err) == 0)
    {
      if (init)
        c->init_pid = pid;
      return 0;
    }
fail:
  /* The agent reaps a failed child with the others (it is not reported:
     no process record holds its pid).  */
  close_fd (&out->start_fd), close_fd (&out->status_fd);
  if (master < 0)
    close_fd (&out->stdin_fd), close_fd (&out->stdout_fd);
  else
    close_fd (&master);
  close_fd (&out->stderr_fd);
  out->stdin_fd = out->stdout_fd = -1;
  return -1;
}
