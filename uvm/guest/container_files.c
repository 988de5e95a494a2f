/* What the host writes into a container: pod files (CRI and kubelet
   files), volumes swapped in atomically, emptyDir caps, and the
   termination log read back.  */
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

/* ---- pod volumes ---------------------------------------------------------
 */

/* emptyDirs live here, one directory per volume name, shared by the pod's
   containers.  */
#define EMPTY_DIRS "/run/gcs/pod/empty"

/* An emptyDir with a cap is a tmpfs of that size, mounted by the pod's
   first container that names it (the others find the mount).  */
static int
cap_empty_dir (const char *dir, uint64_t size, shim_error **err)
{
  struct stat mine, parent;
  cleanup_free char *up = xasprintf ("%s/..", dir);
  if (size == 0
      || (stat (dir, &mine) == 0 && stat (up, &parent) == 0
          && mine.st_dev != parent.st_dev))
    return 0;
  cleanup_free char *opts
      = xasprintf ("mode=0777,size=%llu", (unsigned long long) size);
  if (mount ("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "emptyDir %s: tmpfs of %llu bytes", dir,
                             (unsigned long long) size);
  return 0;
}

/* The volume of c whose destination is dest, or -1.  */
int
volume_index (const struct container *c, const char *dest)
{
  for (size_t i = 0; i < c->nvolumes; i++)
    if (strcmp (c->volumes[i], dest) == 0)
      return (int) i;
  return -1;
}

/* The path of f below volume dest, or NULL if f is not in it.  */
static const char *
in_volume (const struct bridge_file *f, const char *dest)
{
  size_t n = strlen (dest);
  return strncmp (f->path, dest, n) == 0 && f->path[n] == '/' ? f->path + n + 1
                                                              : NULL;
}

/* Writes version `version` of volume i of c from files, laid out as the
   kubelet lays out its own volumes: <dir>/..v<N>/<files>, <dir>/..data ->
   ..v<N>, and each top-level name <dir>/<name> -> ..data/<name>.  A new
   version replaces ..data with one rename: the container sees the old
   content or the new, never a mix.  */
static int
write_volume (struct container *c, size_t i, const struct bridge_file *files,
              size_t nfiles, shim_error **err)
{
  unsigned version = c->volume_versions[i] + 1;
  cleanup_free char *dir = xasprintf ("%s/v%zu", c->dir, i);
  cleanup_free char *vdir = xasprintf ("%s/..v%u", dir, version);
  remove_tree (vdir);
  if (mkdir_p (vdir, 0755, err) < 0)
    return -1;
  for (size_t f = 0; f < nfiles; f++)
    {
      const char *rel = in_volume (&files[f], c->volumes[i]);
      if (rel == NULL)
        continue;
      if (!path_is_plain (rel) || strncmp (rel, "..", 2) == 0)
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "volume %s: file %s is not a plain path",
                               c->volumes[i], rel);
      cleanup_free char *path = xasprintf ("%s/%s", vdir, rel);
      cleanup_free char *parent = xstrdup (path);
      *strrchr (parent, '/') = '\0';
      if (mkdir_p (parent, 0755, err) < 0
          || write_file_atomic (path, files[f].content, files[f].len, err) < 0)
        return -1;
      chmod (path, files[f].mode ? files[f].mode : 0644);
      cleanup_free char *top = xstrndup (rel, strcspn (rel, "/"));
      cleanup_free char *link = xasprintf ("%s/%s", dir, top);
      cleanup_free char *target = xasprintf ("..data/%s", top);
      if (symlink (target, link) < 0 && errno != EEXIST)
        return shim_error_errno (err, GRPC_INTERNAL, errno, "symlink %s",
                                 link);
    }
  cleanup_free char *tmp = xasprintf ("%s/..data_tmp", dir);
  cleanup_free char *data = xasprintf ("%s/..data", dir);
  cleanup_free char *name = xasprintf ("..v%u", version);
  unlink (tmp);
  if (symlink (name, tmp) < 0 || rename (tmp, data) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "switch %s", data);
  c->volume_versions[i] = version;
  /* What the old version had and the new has not goes.  */
  cleanup_free char *old = xasprintf ("%s/..v%u", dir, version - 1);
  remove_tree (old);
  DIR *d = opendir (dir);
  struct dirent *de;
  while (d != NULL && (de = readdir (d)) != NULL)
    {
      if (strncmp (de->d_name, "..", 2) == 0 || strcmp (de->d_name, ".") == 0)
        continue;
      cleanup_free char *now = xasprintf ("%s/%s", vdir, de->d_name);
      struct stat st;
      if (lstat (now, &st) < 0)
        unlinkat (dirfd (d), de->d_name, 0);
    }
  if (d != NULL)
    closedir (d);
  return 0;
}

int
container_volume_update (struct container *c, const struct bridge_request *req,
                         shim_error **err)
{
  int i = volume_index (c, req->volumes[0]);
  if (i < 0)
    return shim_error_set (err, GRPC_NOT_FOUND,
                           "container %s has no volume at %s", c->id,
                           req->volumes[0]);
  if (write_volume (c, (size_t) i, req->files, req->nfiles, err) < 0)
    return shim_error_wrap (err, "update volume %s of %s", req->volumes[0],
                            c->id);
  agent_log (L_INFO, "volume updated", "container", c->id, "volume",
             req->volumes[0]);
  return 0;
}

void
container_termination_message (const struct container *c, strbuf *out)
{
  if (c->termination_log == NULL)
    return;
  for (size_t i = 0; i < c->nfiles; i++)
    if (strcmp (c->files[i].path, c->termination_log) == 0)
      {
        char buf[CONTAINER_TERMINATION_MESSAGE_MAX];
        int fd = open (c->files[i].content, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf) : -1;
        if (fd >= 0)
          close (fd);
        if (n > 0)
          strbuf_json_string (out, buf, (size_t) n);
      }
}

int
write_pod_files (struct container *c, const struct bridge_request *req,
                 shim_error **err)
{
  cleanup_free char *dir = xasprintf ("%s/files", c->dir);
  if (mkdir_p (dir, 0755, err) < 0)
    return -1;
  c->nvolumes = req->nvolumes;
  c->volumes = xzalloc ((req->nvolumes + 1) * sizeof *c->volumes);
  c->volume_versions
      = xzalloc ((req->nvolumes + 1) * sizeof *c->volume_versions);
  for (size_t i = 0; i < req->nvolumes; i++)
    {
      c->volumes[i] = xstrdup (req->volumes[i]);
      if (write_volume (c, i, req->files, req->nfiles, err) < 0)
        return -1;
    }
  c->bound_dirs = xzalloc ((req->nempty_dirs + req->nshares + 1)
                           * sizeof *c->bound_dirs);
  for (size_t i = 0; i < req->nempty_dirs; i++)
    {
      struct bridge_empty_dir *d = &c->bound_dirs[c->nbound_dirs++];
      d->path = xstrdup (req->empty_dirs[i].path);
      d->name = xasprintf (EMPTY_DIRS "/%s", req->empty_dirs[i].name);
      if (mkdir_p (d->name, 0777, err) < 0
          || cap_empty_dir (d->name, req->empty_dirs[i].size, err) < 0)
        return -1;
      chmod (d->name, 0777); /* as the kubelet makes it */
    }
  for (size_t i = 0; i < req->nshares; i++)
    {
      struct bridge_empty_dir *d = &c->bound_dirs[c->nbound_dirs++];
      d->path = xstrdup (req->shares[i].path);
      d->name = xstrdup (req->shares[i].name);
      struct stat st;
      if (lstat (d->name, &st) < 0)
        return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                                 "host share %s for %s is not in the VM",
                                 d->name, d->path);
    }
  if (req->termination_log != NULL)
    c->termination_log = xstrdup (req->termination_log);
  c->files = xzalloc ((req->nfiles + 1) * sizeof *c->files);
  for (size_t i = 0; i < req->nfiles; i++)
    {
      bool in_a_volume = false;
      for (size_t v = 0; v < req->nvolumes; v++)
        in_a_volume |= in_volume (&req->files[i], req->volumes[v]) != NULL;
      if (in_a_volume)
        continue;
      cleanup_free char *path = xasprintf ("%s/%zu", dir, i);
      if (write_file_atomic (path, req->files[i].content, req->files[i].len,
                             err)
          < 0)
        return -1;
      chmod (path, 0644);
      c->files[c->nfiles].path = xstrdup (req->files[i].path);
      c->files[c->nfiles++].content = xstrdup (path);
    }
  return 0;
}
