/* See shim_socket.h.  */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/pb_pack.h"
#include "proto/ttrpc_frame.h"
#include "shim_socket.h"
#include "ttrpc.pb-c.h"

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
      /* NOLINTNEXTLINE(cert-err34-c): the kernel's own number */
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

/* A listener accepts into its backlog even while its process is dying
   (the kernel releases a dead process's sockets in no fixed order, so its
   clients may see their connections close first), so a connect alone does
   not tell a live shim.  A live shim answers a ttrpc request; a dying one
   resets the connection when its listener goes.  */
bool
shim_socket_is_served (const char *path)
{
  struct sockaddr_un sa;
  int fd = unix_socket (path, &sa);
  if (fd < 0)
    return false;
  struct timeval timeout = { .tv_sec = SHIM_SOCKET_PROBE_SECONDS };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  bool served = false;
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0)
    {
      Pb__Request req = PB__REQUEST__INIT;
      req.service = "containerd.task.v2.Task";
      req.method = "Connect";
      ProtobufCBinaryData body = pb_pack (&req.base);
      strbuf frame = STRBUF_INIT;
      ttrpc_frame_append (&frame, 1, TTRPC_TYPE_REQUEST, 0, body.data,
                          body.len);
      free (body.data);
      uint8_t in[TTRPC_HEADER_LEN];
      struct ttrpc_header h;
      if (send (fd, frame.data, frame.len, MSG_NOSIGNAL) == (ssize_t) frame.len
          && recv (fd, in, sizeof in, MSG_WAITALL) == (ssize_t) sizeof in)
        {
          ttrpc_header_decode (in, &h);
          served = h.type == TTRPC_TYPE_RESPONSE && h.stream_id == 1;
        }
      strbuf_release (&frame);
    }
  close (fd);
  return served;
}
