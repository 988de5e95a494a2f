#include "held_process.h"

#include <errno.h>
#include <unistd.h>

#include "guest_io.h"

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

int
held_process_start (struct held_process *hp, shim_error **err)
{
  char b = 1, msg[1024];
  if (write_all (hp->start_fd, &b, 1) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "release process");
  close_fd (&hp->start_fd);
  ssize_t n;
  do
    n = read (hp->status_fd, msg, sizeof msg - 1);
  while (n < 0 && errno == EINTR);
  close_fd (&hp->status_fd);
  if (n <= 0)
    return 0;
  msg[n] = '\0';
  return shim_error_set (err, GRPC_FAILED_PRECONDITION, "exec: %s", msg);
}
