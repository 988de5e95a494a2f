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
#include "sysctl.h"

/* An empty directory the holder is locked in.  */
#define HOLDER_ROOT "/run/gcs/pod-namespaces"
/* The holder's user: nobody.  */
#define HOLDER_ID 65534

static const char *const ns_files[POD_NS_COUNT] = { "pid", "uts", "ipc" };
static int ns_fds[POD_NS_COUNT] = { -1, -1, -1 };

/* The holder's failure, told to the agent on the ready pipe.  */
static __attribute__ ((noreturn)) void
holder_fail (int ready_fd, const char *what)
{
  char msg[512];
  int n = snprintf (msg, sizeof msg, "%s: %s", what, strerror (errno));
  write_all (ready_fd, msg,
             n > 0 && (size_t) n < sizeof msg ? (size_t) n : sizeof msg - 1);
  _exit (1);
}

static __attribute__ ((noreturn)) void
holder_main (const char *hostname, const struct oci_key_value *sysctls,
             size_t nsysctls, int ready_fd)
{
  prctl (PR_SET_NAME, "pod-namespaces", 0, 0, 0);
  sigset_t chld;
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_SETMASK, &chld, NULL);
  if (unshare (CLONE_NEWUTS | CLONE_NEWIPC) < 0)
    holder_fail (ready_fd, "unshare");
  if (hostname != NULL && sethostname (hostname, strlen (hostname)) < 0)
    holder_fail (ready_fd, "set the hostname");
  /* In the new namespaces: IPC and UTS keys are the pod's; net.* the
     UVM's network namespace, which is the pod's.  */
  const char *key;
  if (sysctl_apply (sysctls, nsysctls, &key) < 0)
    {
      char what[300];
      snprintf (what, sizeof what, "linux.sysctl %s", key);
      holder_fail (ready_fd, what);
    }
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
pod_namespaces_ensure (const char *hostname,
                       const struct oci_key_value *sysctls, size_t nsysctls,
                       shim_error **err)
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
      holder_main (hostname, sysctls, nsysctls, ready[1]);
    }
  close (ready[1]);
  /* One NUL byte: ready; else the holder's reason, then EOF.  */
  char answer[512] = "";
  ssize_t n = pid > 0 ? 0 : -1;
  while (n >= 0 && (size_t) n < sizeof answer - 1)
    {
      ssize_t got
          = read (ready[0], answer + n, sizeof answer - 1 - (size_t) n);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      n += got;
    }
  close (ready[0]);
  if (n != 1 || answer[0] != '\0')
    {
      if (pid > 0)
        kill (pid, SIGKILL);
      if (n > 0)
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "start the pod's namespaces: %.*s", (int) n,
                               answer);
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
