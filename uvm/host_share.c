/* See host_share.h.  */
#include "host_share.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "vmm_process.h"
#include "vmm_user.h"

struct host_share
{
  uv_loop_t *loop;
  char *dir;
  char *virtiofsd;
  char *helper_exe;
  char *cgroup_dir;
  char *socket_path;
  uid_t vmm_uid;
  gid_t vmm_gid;
  char *id;
  struct vmm_process *daemon;
  unsigned next_bind;
};

static void
on_daemon_exit (void *data, int64_t status, int term_signal)
{
  struct host_share *s = data;
  char st[32];
  snprintf (st, sizeof st, "%s %lld", term_signal ? "signal" : "status",
            (long long) (term_signal ? term_signal : status));
  log_entry (LOG_LEVEL_INFO, "virtiofsd exited",
             (struct log_field[]){ { "uvm-id", s->id }, { "how", st } }, 2);
}

int
host_share_open (const struct host_share_config *c, struct host_share **out,
                 shim_error **err)
{
  struct host_share *s = xzalloc (sizeof *s);
  s->loop = c->loop;
  s->dir = xasprintf ("%s/" HOST_SHARE_DIR_NAME, c->state_dir);
  s->virtiofsd = xstrdup (c->virtiofsd);
  s->helper_exe = xstrdup (c->helper_exe);
  s->cgroup_dir = c->cgroup_dir ? xstrdup (c->cgroup_dir) : NULL;
  s->socket_path = xstrdup (c->socket_path);
  s->vmm_uid = c->vmm_uid;
  s->vmm_gid = c->vmm_gid;
  s->id = xstrdup (c->id);
  /* A mount point of its own with shared propagation: binds made beneath
     it later reach virtiofsd's namespace, a slave of the shim's.  */
  if (mkdir (s->dir, 0700) < 0 && errno != EEXIST)
    {
      shim_error_errno (err, GRPC_INTERNAL, errno, "mkdir %s", s->dir);
      host_share_close (s);
      return -1;
    }
  if (mount (s->dir, s->dir, NULL, MS_BIND, NULL) < 0
      || mount (NULL, s->dir, NULL, MS_SHARED, NULL) < 0)
    {
      shim_error_errno (err, GRPC_INTERNAL, errno,
                        "make %s a shared mount point", s->dir);
      host_share_close (s);
      return -1;
    }
  *out = s;
  return 0;
}

/* The vhost-user socket, listening, reachable by the VMM's uid only.  */
static int
listen_socket (struct host_share *s, shim_error **err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (s->socket_path) >= sizeof sa.sun_path)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "socket path %s is too long", s->socket_path);
  strcpy (sa.sun_path, s->socket_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "socket");
  unlink (s->socket_path);
  mode_t old = umask (0177);
  int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
  umask (old);
  if (r < 0 || chown (s->socket_path, s->vmm_uid, s->vmm_gid) < 0
      || listen (fd, 1) < 0)
    {
      int e = errno;
      close (fd);
      return shim_error_errno (err, GRPC_INTERNAL, e, "listen on %s",
                               s->socket_path);
    }
  return fd;
}

void
host_share_stop_daemon (struct host_share *s)
{
  if (s == NULL)
    return;
  vmm_process_destroy (s->daemon);
  s->daemon = NULL;
}

int
host_share_start_daemon (struct host_share *s, shim_error **err)
{
  host_share_stop_daemon (s);
  int fd = listen_socket (s, err);
  if (fd < 0)
    return -1;
  cleanup_free char *source = xasprintf ("source=%s", s->dir);
  char *argv[] = { s->virtiofsd,  (char *) "--fd=3",
                   (char *) "-o", source,
                   (char *) "-o", (char *) "cache=none",
                   (char *) "-o", (char *) "log_level=warn",
                   NULL };
  struct vmm_command cmd = { argv, NULL };
  /* Root: its sandbox is namespaces of its own and a pivot_root into the
     share, which takes CAP_SYS_ADMIN.  */
  struct vmm_user root = { 0, 0, 0 };
  struct vmm_placement place = { s->cgroup_dir, NULL, NULL, fd };
  int r = vmm_process_spawn (s->loop, s->helper_exe, &cmd, &root, &place,
                             "virtiofsd", on_daemon_exit, s, &s->daemon, err);
  close (fd);
  return r;
}

int
host_share_bind (struct host_share *s, const char *source, bool readonly,
                 char **name, shim_error **err)
{
  struct stat st;
  if (source[0] != '/' || stat (source, &st) < 0)
    return shim_error_errno (err, GRPC_INVALID_ARGUMENT,
                             source[0] != '/' ? EINVAL : errno, "host path %s",
                             source);
  char *n = xasprintf ("b%u", ++s->next_bind);
  cleanup_free char *target = xasprintf ("%s/%s", s->dir, n);
  bool dir = S_ISDIR (st.st_mode);
  int made
      = dir ? mkdir (target, 0700)
            : open (target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (!dir && made >= 0)
    made = close (made);
  if (made < 0 || mount (source, target, NULL, MS_BIND | MS_REC, NULL) < 0
      || (readonly
          && mount (NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)
                 < 0))
    {
      int e = errno;
      umount2 (target, MNT_DETACH);
      if (dir)
        rmdir (target);
      else
        unlink (target);
      free (n);
      return shim_error_errno (err, GRPC_INTERNAL, e, "bind %s into %s",
                               source, target);
    }
  *name = n;
  return 0;
}

void
host_share_unbind (struct host_share *s, const char *name)
{
  cleanup_free char *target = xasprintf ("%s/%s", s->dir, name);
  if (umount2 (target, MNT_DETACH) < 0)
    log_warn ("uvm %s: unmount %s: %s", s->id, target, strerror (errno));
  if (rmdir (target) < 0 && errno == ENOTDIR)
    unlink (target);
}

/* Detaching the share's own mount takes every bind beneath it; what is
   left are the empty mount points, removed one level deep only, so that
   nothing beneath a bind that is somehow still there is touched.  */
static void
detach_share (const char *dir)
{
  umount2 (dir, MNT_DETACH);
  DIR *d = opendir (dir);
  if (d != NULL)
    {
      struct dirent *e;
      while ((e = readdir (d)) != NULL)
        if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0
            && unlinkat (dirfd (d), e->d_name, AT_REMOVEDIR) < 0)
          unlinkat (dirfd (d), e->d_name, 0);
      closedir (d);
    }
  rmdir (dir);
}

void
host_share_close (struct host_share *s)
{
  if (s == NULL)
    return;
  vmm_process_destroy (s->daemon);
  detach_share (s->dir);
  unlink (s->socket_path);
  free (s->dir);
  free (s->virtiofsd);
  free (s->helper_exe);
  free (s->cgroup_dir);
  free (s->socket_path);
  free (s->id);
  free (s);
}

void
host_share_cleanup_orphan (const char *state_dir)
{
  cleanup_free char *dir = xasprintf ("%s/" HOST_SHARE_DIR_NAME, state_dir);
  detach_share (dir);
}
