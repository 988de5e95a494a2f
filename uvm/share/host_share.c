/* See host_share.h.  */
#include "host_share.h"

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
#include "uvm/vmm/vmm_process.h"
#include "uvm/vmm/vmm_user.h"

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
  /* The share's root (read-only, where binds are attached) and its
     staging clone (read-write, where their mount points are made).  */
  int root;
  int staging;
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

/* The share's root: a small tmpfs of its own, mounted read-only at s->dir
   (what virtiofsd exports, so the guest can neither write nor plant
   anything there) and shared (so binds made beneath it reach virtiofsd's
   namespace, a slave of the shim's).  Its mount points are made only
   through s->staging, a private read-write clone of the same tmpfs that is
   attached nowhere: no path leads to it.  */
static int
mount_share_root (struct host_share *s, shim_error **err)
{
  const char *step = "fsopen tmpfs";
  int fs = fsopen ("tmpfs", FSOPEN_CLOEXEC);
  int tmpfs = -1;
  if (fs >= 0)
    {
      step = "configure the share's tmpfs";
      if (fsconfig (fs, FSCONFIG_SET_STRING, "size", HOST_SHARE_ROOT_SIZE, 0)
              == 0
          && fsconfig (fs, FSCONFIG_SET_STRING, "nr_inodes",
                       HOST_SHARE_ROOT_INODES, 0)
                 == 0
          && fsconfig (fs, FSCONFIG_SET_STRING, "mode", "0700", 0) == 0
          && fsconfig (fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        {
          step = "fsmount";
          tmpfs = fsmount (fs, FSMOUNT_CLOEXEC,
                           MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
                               | MOUNT_ATTR_NOEXEC);
        }
    }
  if (tmpfs >= 0)
    {
      step = "attach";
      if (move_mount (tmpfs, "", AT_FDCWD, s->dir, MOVE_MOUNT_F_EMPTY_PATH)
          == 0)
        {
          /* A clone is made from an attached mount only (before 6.15).  */
          step = "clone the staging mount";
          s->staging = open_tree (AT_FDCWD, s->dir,
                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        }
    }
  struct mount_attr private = { .propagation = MS_PRIVATE };
  struct mount_attr ro_shared
      = { .attr_set = MOUNT_ATTR_RDONLY, .propagation = MS_SHARED };
  if (s->staging >= 0)
    step = "make the share read-only and shared";
  int e = s->staging < 0
                  || mount_setattr (s->staging, "", AT_EMPTY_PATH, &private,
                                    sizeof private)
                         < 0
                  || mount_setattr (AT_FDCWD, s->dir, AT_SYMLINK_NOFOLLOW,
                                    &ro_shared, sizeof ro_shared)
                         < 0
              ? errno
              : 0;
  if (fs >= 0)
    close (fs);
  if (tmpfs >= 0)
    close (tmpfs);
  if (e == 0)
    {
      step = "open";
      s->root = open (s->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      e = s->root < 0 ? errno : 0;
    }
  if (e != 0)
    return shim_error_errno (err, GRPC_INTERNAL, e, "%s: %s", s->dir, step);
  return 0;
}

int
host_share_open (const struct host_share_config *c, struct host_share **out,
                 shim_error **err)
{
  struct host_share *s = xzalloc (sizeof *s);
  s->loop = c->loop;
  s->dir = xasprintf ("%s/" HOST_SHARE_DIR_NAME, c->state_dir);
  s->root = s->staging = -1;
  s->virtiofsd = xstrdup (c->virtiofsd);
  s->helper_exe = xstrdup (c->helper_exe);
  s->cgroup_dir = c->cgroup_dir ? xstrdup (c->cgroup_dir) : NULL;
  s->socket_path = xstrdup (c->socket_path);
  s->vmm_uid = c->vmm_uid;
  s->vmm_gid = c->vmm_gid;
  s->id = xstrdup (c->id);
  int r
      = mkdir (s->dir, 0700) < 0 && errno != EEXIST
            ? shim_error_errno (err, GRPC_INTERNAL, errno, "mkdir %s", s->dir)
            : mount_share_root (s, err);
  if (r < 0)
    {
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
  struct vmm_user vmm = { s->vmm_uid, s->vmm_gid, 0 };
  if (r < 0 || listen (fd, 1) < 0)
    r = shim_error_errno (err, GRPC_INTERNAL, errno, "listen on %s",
                          s->socket_path);
  else
    r = vmm_user_give (&vmm, s->socket_path, err);
  if (r < 0)
    {
      close (fd);
      return -1;
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
  /* Root, as its sandbox (namespaces of its own, a pivot_root into the
     share) and serving files as their owners need, but only in a user
     namespace of its own with every id mapped to itself: no capability in
     the host's namespaces (no open_by_handle_at, mount, module or device
     of the host's).  */
  struct vmm_user root = { 0, 0, 0 };
  struct vmm_placement place = { .cgroup_dir = s->cgroup_dir,
                                 .inherit_fd = fd,
                                 .own_user_namespace = true };
  int r = vmm_process_spawn (s->loop, s->helper_exe, &cmd, &root, &place,
                             "virtiofsd", on_daemon_exit, s, &s->daemon, err);
  close (fd);
  return r;
}

/* A detached copy of the tree at src, with the flags and propagation
   asked, set on the copy before it is attached anywhere: it never joins
   the source's peer group, so nothing done to it (its unmount above all)
   reaches the host's mounts, and a private one does not see the host's
   later mounts either.  */
static int
detached_bind (int src, const struct bind_options *o, shim_error **err)
{
  int tree = open_tree (src, "",
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH
                            | (o->recursive ? AT_RECURSIVE : 0));
  if (tree < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "open_tree");
  struct mount_attr attr
      = { .attr_set = o->readonly ? MOUNT_ATTR_RDONLY : 0,
          .propagation = o->propagation == MOUNT_PROPAGATION_SLAVE
                             ? MS_SLAVE
                             : MS_PRIVATE };
  if (mount_setattr (tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                     sizeof attr)
      < 0)
    {
      int e = errno;
      close (tree);
      return shim_error_errno (err, GRPC_INTERNAL, e, "mount_setattr %s %s",
                               o->readonly ? "ro" : "rw",
                               mount_propagation_name (o->propagation));
    }
  return tree;
}

/* Removes the mount point name from the staging mount, where nothing is
   ever mounted: a name still mounted in the share is EBUSY, not crossed.  */
static void
remove_mount_point (struct host_share *s, const char *name)
{
  if (unlinkat (s->staging, name, AT_REMOVEDIR) < 0 && errno == ENOTDIR
      && unlinkat (s->staging, name, 0) < 0)
    log_warn ("uvm %s: remove share mount point %s: %s", s->id, name,
              strerror (errno));
}

int
host_share_bind (struct host_share *s, const char *source,
                 const struct bind_options *options, char **name,
                 shim_error **err)
{
  if (source[0] != '/')
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "host path %s is not absolute", source);
  /* Symlinks in the source are followed, as runc follows them; what is
     looked at is what is bound (by fd).  */
  cleanup_close int src = open (source, O_PATH | O_CLOEXEC);
  struct stat st;
  if (src < 0 || fstat (src, &st) < 0)
    return shim_error_errno (err, GRPC_INVALID_ARGUMENT, errno, "host path %s",
                             source);
  cleanup_close int tree = detached_bind (src, options, err);
  if (tree < 0)
    return shim_error_wrap (err, "bind %s", source);
  char *n = xasprintf ("b%u", ++s->next_bind);
  bool dir = S_ISDIR (st.st_mode);
  int made
      = dir ? mkdirat (s->staging, n, 0700)
            : openat (s->staging, n,
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600);
  if (!dir && made >= 0)
    made = close (made);
  if (made < 0
      || move_mount (tree, "", s->root, n, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    {
      int e = errno;
      if (made == 0)
        remove_mount_point (s, n);
      shim_error_errno (err, GRPC_INTERNAL, e, "bind %s into %s/%s", source,
                        s->dir, n);
      free (n);
      return -1;
    }
  *name = n;
  return 0;
}

void
host_share_unbind (struct host_share *s, const char *name)
{
  /* The guest cannot write the share's root: the path is the shim's.  */
  cleanup_free char *target = xasprintf ("%s/%s", s->dir, name);
  if (umount2 (target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
    log_warn ("uvm %s: unmount %s: %s", s->id, target, strerror (errno));
  remove_mount_point (s, name);
}

/* Detaching the share's root takes every bind beneath it; its tmpfs,
   mount points and all, is gone with its last mount: nothing is removed
   beneath it, so nothing beneath a bind is ever touched.  */
static void
detach_share (const char *dir)
{
  umount2 (dir, MNT_DETACH | UMOUNT_NOFOLLOW);
  rmdir (dir);
}

void
host_share_close (struct host_share *s)
{
  if (s == NULL)
    return;
  vmm_process_destroy (s->daemon);
  if (s->staging >= 0)
    close (s->staging);
  if (s->root >= 0)
    close (s->root);
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
