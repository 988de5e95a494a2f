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
shim_socket_backlog (void)
{
  /* What the host allows, as Go's net package listens: a burst of
     connections dropped by a client does not crowd out the next one.  */
  int n = 0;
  FILE *f = fopen ("/proc/sys/net/core/somaxconn", "re");
  if (f != NULL)
    {
      if (fscanf (f, "%d", &n) != 1)
        n = 0;
      fclose (f);
    }
  return n > 0 ? n : SOMAXCONN;
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
  if (r < 0 || listen (fd, shim_socket_backlog ()) < 0)
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
