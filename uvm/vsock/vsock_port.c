#include "vsock_port.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"

struct vsock_listener
{
  uv_poll_t poll;
  int fd;
  char *path; /* hybrid socket file, unlinked on close */
  struct vsock_listener_config cfg;
  vsock_accept_fn on_accept;
  void *data;
  bool closed;
};

int
vsock_hybrid_path (const char *uds, uint32_t port, char **out,
                   shim_error **err)
{
  char *p = xasprintf ("%s_%u", uds, port);
  if (strlen (p) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT,
                      "socket path %s is longer than sun_path allows", p);
      free (p);
      return -1;
    }
  *out = p;
  return 0;
}

bool
vsock_af_vsock_available (void)
{
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  close (fd);
  return true;
}

static int
open_hybrid (const struct vsock_listener_config *cfg, char **path,
             shim_error **err)
{
  if (vsock_hybrid_path (cfg->uds, cfg->port, path, err) < 0)
    return -1;
  cleanup_close int fd
      = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "socket");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strcpy (sa.sun_path, *path);
  unlink (*path);
  /* Created 0600 from the start: no window where others could connect.  */
  mode_t old = umask (0177);
  int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
  umask (old);
  if (r < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "bind %s", *path);
  if (listen (fd, 16) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "listen %s", *path);
  return steal_fd (&fd);
}

static int
open_af_vsock (const struct vsock_listener_config *cfg, shim_error **err)
{
  cleanup_close int fd
      = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                             "AF_VSOCK socket");
  struct sockaddr_vm sa = {
    .svm_family = AF_VSOCK,
    .svm_port = cfg->port,
    .svm_cid = VMADDR_CID_ANY,
  };
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      if (errno == EADDRINUSE)
        return shim_error_set (
            err, GRPC_FAILED_PRECONDITION,
            "AF_VSOCK port %u is already bound on this host: with AF_VSOCK a "
            "port is host-wide, so one sandbox per host can use this "
            "transport; use the hybrid transport for more",
            cfg->port);
      return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                               "bind AF_VSOCK port %u", cfg->port);
    }
  if (listen (fd, 16) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "listen AF_VSOCK port %u", cfg->port);
  return steal_fd (&fd);
}

static void
on_poll_closed (uv_handle_t *h)
{
  struct vsock_listener *l = h->data;
  close (l->fd);
  free (l->path);
  free (l);
}

void
vsock_listener_close (struct vsock_listener *l)
{
  if (l == NULL || l->closed)
    return;
  l->closed = true;
  if (l->path != NULL)
    unlink (l->path);
  uv_close ((uv_handle_t *) &l->poll, on_poll_closed);
}

static void
on_readable (uv_poll_t *h, int status, int events)
{
  struct vsock_listener *l = h->data;
  (void) events;
  if (status < 0 || l->closed)
    return;
  for (;;)
    {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      int fd = accept4 (l->fd, (struct sockaddr *) &ss, &sl,
                        SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        {
          if (errno != EAGAIN && errno != EINTR)
            log_warn ("vsock port %u: accept: %s", l->cfg.port,
                      strerror (errno));
          return;
        }
      if (l->cfg.transport == VSOCK_TRANSPORT_AF_VSOCK)
        {
          const struct sockaddr_vm *vm = (const struct sockaddr_vm *) &ss;
          if (vm->svm_cid != l->cfg.guest_cid)
            {
              log_warn ("vsock port %u: refused a connection from CID %u "
                        "(the guest is CID %u)",
                        l->cfg.port, vm->svm_cid, l->cfg.guest_cid);
              close (fd);
              continue;
            }
        }
      bool single = l->cfg.single;
      if (single)
        vsock_listener_close (l);
      l->on_accept (l->data, fd);
      if (single)
        return;
    }
}

int
vsock_listener_open (uv_loop_t *loop, const struct vsock_listener_config *cfg,
                     vsock_accept_fn on_accept, void *data,
                     struct vsock_listener **out, shim_error **err)
{
  char *path = NULL;
  int fd = cfg->transport == VSOCK_TRANSPORT_HYBRID
               ? open_hybrid (cfg, &path, err)
               : open_af_vsock (cfg, err);
  if (fd < 0)
    {
      free (path);
      return -1;
    }
  struct vsock_listener *l = xzalloc (sizeof *l);
  l->fd = fd;
  l->path = path;
  l->cfg = *cfg;
  l->cfg.uds = NULL;
  l->on_accept = on_accept;
  l->data = data;
  int r = uv_poll_init (loop, &l->poll, fd);
  l->poll.data = l;
  if (r < 0)
    {
      if (path)
        unlink (path);
      close (fd);
      free (path);
      free (l);
      return shim_error_set (err, GRPC_INTERNAL, "watch vsock port %u: %s",
                             cfg->port, uv_strerror (r));
    }
  uv_poll_start (&l->poll, UV_READABLE, on_readable);
  char port[16];
  snprintf (port, sizeof port, "%u", cfg->port);
  log_entry (LOG_LEVEL_DEBUG, "listening on vsock port",
             (struct log_field[]){ { "port", port },
                                   { "path", path ? path : "AF_VSOCK" } },
             2);
  *out = l;
  return 0;
}
