/* See pid_namespace.h.  */
#include "pid_namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "pod_namespaces.h"

/* The agent's own namespace, opened before the first change.  */
static int own_ns = -1;

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
      return setns (pod_namespace_fd (POD_NS_PID), CLONE_NEWPID);
    case PID_NS_OF_PROCESS:
      {
        char path[64];
        snprintf (path, sizeof path, "/proc/%d/ns/pid", (int) of_process);
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
          return -1;
        int r = setns (fd, CLONE_NEWPID);
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
    setns (own_ns, CLONE_NEWPID);
  errno = saved;
}
