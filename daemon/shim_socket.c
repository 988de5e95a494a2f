/* See shim_socket.h.  */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim_socket.h"

static int
unix_socket (const char *path, struct sockaddr_un *sa)
{
  *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
  snprintf (sa->sun_path, sizeof sa->sun_path, "%s", path);
  return socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

int
shim_socket_listen (const char *path)
{
  struct sockaddr_un sa;
  int fd = unix_socket (path, &sa);
  if (fd < 0)
    return -1;
  /* Only the shim's user may connect; set at creation, no window.  */
  mode_t old = umask (0177);
  int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
  umask (old);
  if (r < 0 || listen (fd, 128) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

bool
shim_socket_is_served (const char *path)
{
  struct sockaddr_un sa;
  int fd = unix_socket (path, &sa);
  if (fd < 0)
    return false;
  bool served = connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  close (fd);
  return served;
}
