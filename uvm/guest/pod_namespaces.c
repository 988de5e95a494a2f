/* See pod_namespaces.h.  */
#include "pod_namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_log.h"
#include "guest_io.h"
#include "pid_namespace.h"

/* An empty directory the holder is locked in.  */
#define HOLDER_ROOT "/run/gcs/pod-namespaces"
/* The holder's user: nobody.  */
#define HOLDER_ID 65534

static const char *const ns_files[POD_NS_COUNT] = { "pid", "uts", "ipc" };
static int ns_fds[POD_NS_COUNT] = { -1, -1, -1 };

static __attribute__ ((noreturn)) void
holder_main (const char *hostname, int ready_fd)
{
  prctl (PR_SET_NAME, "pod-namespaces", 0, 0, 0);
  sigset_t chld;
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_SETMASK, &chld, NULL);
  if (unshare (CLONE_NEWUTS | CLONE_NEWIPC) < 0
      || (hostname != NULL && sethostname (hostname, strlen (hostname)) < 0))
    _exit (1);
  for (int cap = 0; prctl (PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
    prctl (PR_CAPBSET_DROP, cap, 0, 0, 0);
  if (chdir (HOLDER_ROOT) < 0 || chroot (".") < 0 || setgroups (0, NULL) < 0
      || setgid (HOLDER_ID) < 0 || setuid (HOLDER_ID) < 0
      || prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    _exit (1);
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Ready: the namespaces are there to be opened.  */
  char b = 0;
  write_all (ready_fd, &b, 1);
  close_range (0, ~0u, 0);
  for (;;)
    {
      sigwaitinfo (&chld, NULL);
      while (waitpid (-1, NULL, WNOHANG) > 0)
        ;
    }
}

int
pod_namespaces_ensure (const char *hostname, shim_error **err)
{
  if (ns_fds[POD_NS_PID] >= 0)
    return 0;
  int ready[2];
  if ((mkdir (HOLDER_ROOT, 0555) < 0 && errno != EEXIST)
      || pipe2 (ready, O_CLOEXEC) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "start the pod's namespaces");
  pid_t pid = -1;
  if (pid_ns_prepare (PID_NS_NEW, 0) == 0)
    pid = fork ();
  int saved = errno;
  pid_ns_restore ();
  if (pid == 0)
    {
      close (ready[0]);
      holder_main (hostname, ready[1]);
    }
  close (ready[1]);
  char b;
  ssize_t n = pid > 0 ? read (ready[0], &b, 1) : -1;
  close (ready[0]);
  if (n != 1)
    {
      if (pid > 0)
        kill (pid, SIGKILL);
      errno = pid < 0 ? saved : EIO;
      return shim_error_errno (err, GRPC_INTERNAL, errno,
                               "start the pod's namespaces (hostname %s)",
                               hostname ? hostname : "none");
    }
  for (int i = 0; i < POD_NS_COUNT; i++)
    {
      char path[64];
      snprintf (path, sizeof path, "/proc/%d/ns/%s", (int) pid, ns_files[i]);
      ns_fds[i] = open (path, O_RDONLY | O_CLOEXEC);
      if (ns_fds[i] < 0)
        return shim_error_errno (err, GRPC_INTERNAL, errno, "open %s", path);
    }
  char pid_text[16];
  snprintf (pid_text, sizeof pid_text, "%d", (int) pid);
  agent_log (L_INFO, "the pod's namespaces are held", "pid", pid_text,
             "hostname", hostname ? hostname : "");
  return 0;
}

int
pod_namespace_fd (enum pod_ns ns)
{
  return ns_fds[ns];
}
