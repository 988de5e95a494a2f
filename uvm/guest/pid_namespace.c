/* See pid_namespace.h.  */
#include "pid_namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_log.h"

/* An empty directory the pod namespace's holder is locked in.  */
#define HOLDER_ROOT "/run/gcs/pod-pid-ns"
/* The holder's user: nobody.  */
#define HOLDER_ID 65534

/* The agent's own namespace, opened before the first change.  */
static int own_ns = -1;
/* The pod's namespace, once its holder runs.  */
static int pod_ns = -1;

/* The pod namespace's init: reaps what is reparented to it.  It holds
   nothing a container sharing the namespace could use: no file, no
   capability, nobody's user, an empty root, not dumpable.  */
static __attribute__ ((noreturn)) void
holder_main (void)
{
  close_range (0, ~0u, 0);
  prctl (PR_SET_NAME, "pod-pid-ns", 0, 0, 0);
  sigset_t chld;
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_SETMASK, &chld, NULL);
  for (int cap = 0; prctl (PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
    prctl (PR_CAPBSET_DROP, cap, 0, 0, 0);
  if (chdir (HOLDER_ROOT) < 0 || chroot (".") < 0 || setgroups (0, NULL) < 0
      || setgid (HOLDER_ID) < 0 || setuid (HOLDER_ID) < 0
      || prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    _exit (1);
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  for (;;)
    {
      sigwaitinfo (&chld, NULL);
      while (waitpid (-1, NULL, WNOHANG) > 0)
        ;
    }
}

/* Starts the pod namespace's holder; 0, or -1 with errno.  */
static int
start_holder (void)
{
  if (mkdir (HOLDER_ROOT, 0555) < 0 && errno != EEXIST)
    return -1;
  if (unshare (CLONE_NEWPID) < 0)
    return -1;
  pid_t pid = fork ();
  int saved = errno;
  pid_ns_restore ();
  if (pid == 0)
    holder_main ();
  if (pid < 0)
    {
      errno = saved;
      return -1;
    }
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/ns/pid", (int) pid);
  pod_ns = open (path, O_RDONLY | O_CLOEXEC);
  if (pod_ns < 0)
    return -1;
  snprintf (path, sizeof path, "%d", (int) pid);
  agent_log (L_INFO, "the pod's PID namespace is held", "pid", path);
  return 0;
}

static int
join (int fd)
{
  return setns (fd, CLONE_NEWPID);
}

int
pid_ns_prepare (enum pid_ns_kind kind, pid_t of_process)
{
  if (own_ns < 0
      && (own_ns = open ("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0)
    return -1;
  switch (kind)
    {
    case PID_NS_NEW:
      return unshare (CLONE_NEWPID);
    case PID_NS_POD:
      if (pod_ns < 0 && start_holder () < 0)
        return -1;
      return join (pod_ns);
    case PID_NS_OF_PROCESS:
      {
        char path[64];
        snprintf (path, sizeof path, "/proc/%d/ns/pid", (int) of_process);
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
          return -1;
        int r = join (fd);
        int saved = errno;
        close (fd);
        errno = saved;
        return r;
      }
    }
  errno = EINVAL;
  return -1;
}

void
pid_ns_restore (void)
{
  /* Joining one's own active namespace always succeeds.  */
  int saved = errno;
  if (own_ns >= 0)
    join (own_ns);
  errno = saved;
}
