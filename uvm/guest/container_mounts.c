/* Inside the held child: the spec's mounts, pod files and devices made
   beneath the new root, the pivot into it, masked and read-only paths.  */
#include "container_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"
#include "capabilities.h"
#include "cgroup_resources.h"
#include "device_filter.h"
#include "network.h"
#include "pid_namespace.h"
#include "pod_namespaces.h"
#include "rootfs_path.h"
#include "seccomp_profile.h"
#include "sysctl.h"
#include "guest_io.h"
#include "proto/base/cleanup.h"
#include "proto/base/fd_pass.h"
#include "proto/base/file_io.h"
#include "proto/mount_options.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

static const char *
pod_file (const struct container *c, const char *destination)
{
  for (size_t i = 0; i < c->nfiles; i++)
    if (strcmp (c->files[i].path, destination) == 0)
      return c->files[i].content;
  return NULL;
}

/* The guest directory behind a volume, emptyDir or host share destination
   (a share may be a file), or NULL.  */
static const char *
pod_dir (const struct container *c, const char *destination)
{
  static char path[PATH_MAX];
  int v = volume_index (c, destination);
  if (v >= 0)
    {
      snprintf (path, sizeof path, "%s/v%d", c->dir, v);
      return path;
    }
  for (size_t i = 0; i < c->nbound_dirs; i++)
    if (strcmp (c->bound_dirs[i].path, destination) == 0)
      return c->bound_dirs[i].name;
  return NULL;
}

/* mount(2) onto dest, a path in the container resolved within its root
   (root: an fd of it), the mount point made as a file when file; a bind
   asked read-only is remounted so through a fresh lookup (the first fd
   names what lies beneath the new mount).  */
static int
mount_in_root (int root, const char *dest, bool file, const char *src,
               const char *type, unsigned long flags, const char *data,
               bool readonly_bind)
{
  char at[32];
  int target = rootfs_path_mount_point (root, dest, file);
  if (target < 0)
    return -1;
  snprintf (at, sizeof at, "/proc/self/fd/%d", target);
  int r = mount (src, at, type, flags, data);
  close (target);
  if (r < 0 || !readonly_bind)
    return r;
  target = rootfs_path_mount_point (root, dest, file);
  if (target < 0)
    return -1;
  snprintf (at, sizeof at, "/proc/self/fd/%d", target);
  r = mount (NULL, at, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
  close (target);
  return r;
}

void
mount_spec (const struct container *c, int root, int status_fd)
{
  for (size_t i = 0; i < c->spec->nmounts; i++)
    {
      const struct oci_mount *m = &c->spec->mounts[i];
      if (m->destination == NULL || m->destination[0] != '/')
        continue;
      cleanup_strbuf strbuf data = STRBUF_INIT;
      unsigned long flags
          = mount_options_parse (m->options, m->noptions, &data);
      bool ro = (flags & MS_RDONLY) != 0;
      const char *type = m->type ? m->type : "";
      const char *file = pod_file (c, m->destination);
      const char *dir = pod_dir (c, m->destination);
      const char *dest = m->destination;
      int r;
      struct stat dir_st;
      if (dir != NULL)
        /* A host share may be a file (a hostPath of type File).  */
        r = mount_in_root (
            root, dest, stat (dir, &dir_st) == 0 && !S_ISDIR (dir_st.st_mode),
            dir, NULL, MS_BIND | MS_REC, NULL, ro);
      else if (file != NULL)
        r = mount_in_root (root, dest, true, file, NULL, MS_BIND, NULL, ro);
      else if ((flags & MS_BIND) || strcmp (type, "bind") == 0)
        {
          /* Only /dev/shm is known without a share: it is the pod's
             shared memory, a tmpfs in the guest.  */
          if (strcmp (dest, "/dev/shm") != 0)
            {
              errno = EINVAL;
              cleanup_free char *what = xasprintf (
                  "bind mount %s: the UVM has no directory share", dest);
              child_fail (status_fd, what);
            }
          r = mount_in_root (root, dest, false, "shm", "tmpfs",
                             MS_NOSUID | MS_NODEV | MS_NOEXEC,
                             "mode=1777,size=65536k", false);
        }
      else
        {
          /* The guest has the unified hierarchy only.  */
          bool cgroup = strcmp (type, "cgroup") == 0;
          r = mount_in_root (root, dest, false, cgroup ? "cgroup2" : m->source,
                             cgroup ? "cgroup2" : type, flags & ~MS_REC,
                             cgroup ? NULL : (data.len ? data.data : NULL),
                             false);
        }
      if (r < 0)
        {
          char what[512];
          snprintf (what, sizeof what, "mount %s", dest);
          child_fail (status_fd, what);
        }
    }
}

/* A device node at path in the container (resolved within root),
   replacing what the image has there, with its mode and owner.  */
static int
make_node (int root, const char *path, mode_t mode, dev_t dev, uid_t uid,
           gid_t gid)
{
  char *last = NULL;
  int parent = rootfs_path_parent (root, path, &last);
  if (parent < 0)
    return -1;
  unlinkat (parent, last, 0);
  int r = mknodat (parent, last, mode, dev) < 0
                  || fchownat (parent, last, uid, gid, AT_SYMLINK_NOFOLLOW) < 0
                  || fchmodat (parent, last, mode & 07777, 0) < 0
              ? -1
              : 0;
  int e = errno;
  close (parent);
  free (last);
  errno = e;
  return r;
}

/* linux.devices: each node made (replacing what the image has there) with
   its mode and owner.  */
void
make_spec_devices (const struct container *c, int root, int status_fd)
{
  for (size_t i = 0; i < c->spec->nlinux_devices; i++)
    {
      const struct oci_linux_device *d = &c->spec->linux_devices[i];
      mode_t type = d->type[0] == 'b'   ? S_IFBLK
                    : d->type[0] == 'p' ? S_IFIFO
                                        : S_IFCHR;
      mode_t perm = d->has_file_mode ? d->file_mode & 07777 : 0666;
      if (make_node (root, d->path, type | perm, makedev (d->major, d->minor),
                     d->uid, d->gid)
          < 0)
        child_fail (status_fd, d->path);
    }
}

/* The devices every container has, as runc makes them.  */
void
make_devices (int root)
{
  static const struct
  {
    const char *path;
    unsigned maj, min;
  } devs[] = { { "/dev/null", 1, 3 },    { "/dev/zero", 1, 5 },
               { "/dev/full", 1, 7 },    { "/dev/random", 1, 8 },
               { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 } };
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
    make_node (root, devs[i].path, S_IFCHR | 0666,
               makedev (devs[i].maj, devs[i].min), 0, 0);
  static const char *const links[][2] = { { "/proc/self/fd", "/dev/fd" },
                                          { "/proc/self/fd/0", "/dev/stdin" },
                                          { "/proc/self/fd/1", "/dev/stdout" },
                                          { "/proc/self/fd/2", "/dev/stderr" },
                                          { "pts/ptmx", "/dev/ptmx" } };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    {
      char *last = NULL;
      int parent = rootfs_path_parent (root, links[i][1], &last);
      if (parent < 0)
        continue;
      if (symlinkat (links[i][0], parent, last) < 0 && errno == EEXIST
          && strcmp (last, "ptmx") == 0)
        {
          unlinkat (parent, last, 0);
          symlinkat (links[i][0], parent, last);
        }
      close (parent);
      free (last);
    }
}

/* Becomes the container's root: pivot_root where the guest's own root
   allows it, else (an initramfs root) move the mount onto / and chroot.  */
void
enter_root (const char *rootfs, bool readonly, int status_fd)
{
  if (chdir (rootfs) < 0)
    child_fail (status_fd, "chdir to the root filesystem");
  if (syscall (SYS_pivot_root, ".", ".") == 0)
    {
      if (umount2 (".", MNT_DETACH) < 0)
        child_fail (status_fd, "detach the old root");
    }
  else if (mount (rootfs, "/", NULL, MS_MOVE, NULL) < 0 || chroot (".") < 0)
    child_fail (status_fd, "enter the root filesystem");
  if (chdir ("/") < 0)
    child_fail (status_fd, "chdir /");
  if (readonly
      && mount (NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    child_fail (status_fd, "make the root read-only");
}

/* The spec's masked paths hidden (a directory under an empty read-only
   tmpfs, a file under /dev/null) and its read-only paths remounted
   read-only, inside the new root, as runc does; a path the guest does not
   have is skipped, as there.  */
void
protect_paths (const struct oci_spec *s, int status_fd)
{
  for (size_t i = 0; i < s->nmasked_paths; i++)
    {
      const char *path = s->masked_paths[i];
      struct stat st;
      if (stat (path, &st) < 0)
        {
          if (errno == ENOENT)
            continue;
          child_fail (status_fd, path);
        }
      if ((S_ISDIR (st.st_mode)
               ? mount ("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
               : mount ("/dev/null", path, NULL, MS_BIND, NULL))
          < 0)
        child_fail (status_fd, path);
    }
  for (size_t i = 0; i < s->nreadonly_paths; i++)
    {
      const char *path = s->readonly_paths[i];
      if (mount (path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        {
          if (errno == ENOENT)
            continue;
          child_fail (status_fd, path);
        }
      /* The remount keeps the flags the mount had.  */
      struct statvfs sv;
      unsigned long keep = 0;
      if (statvfs (path, &sv) == 0)
        keep = (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0)
               | (sv.f_flag & ST_NODEV ? MS_NODEV : 0)
               | (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
      if (mount (path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep,
                 NULL)
          < 0)
        child_fail (status_fd, path);
    }
}
