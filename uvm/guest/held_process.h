/* A forked process held before its exec: set up (namespaces, mounts,
   root, cwd, rlimits, user) and waiting on start_fd, so setup errors fail
   Create and exec errors fail Start.  The setup is the container's
   (container.c); releasing it is the same for every process.  */
#ifndef LCOW_GUEST_HELD_PROCESS_H
#define LCOW_GUEST_HELD_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "proto/base/error.h"

/* stdout_fd is the pty master for a terminal process (then stderr_fd is -1
   and stdin_fd the same master).  */
struct held_process
{
  pid_t pid;
  bool tty;
  int stdin_fd, stdout_fd, stderr_fd;
  int start_fd;  /* a byte here releases the process */
  int status_fd; /* EOF after a successful exec, else the error text */
};

/* Releases a held process; fails with the exec error if there was one.  */
int held_process_start (struct held_process *hp, shim_error **err);

#endif
