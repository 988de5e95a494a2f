#define _XOPEN_SOURCE 700
#include "rootfs_image.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "proto/base/log.h"
#include "proto/mount_options.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

#define MIB (1ull << 20)

struct rootfs_image_job
{
  uv_process_t proc;
  char *dir;
  char *image;
  bool mounted;
  bool cancelled;
  rootfs_image_done_fn done;
  void *data;
};

uint64_t
rootfs_image_size (uint64_t bytes, uint64_t entries)
{
  /* Data rounded per 4 KiB block, an inode and a directory entry each,
     a tenth for metadata, 16 MiB floor; whole MiB.  The file is sparse.  */
  uint64_t size = bytes + entries * 4096 + bytes / 10 + 16 * MIB;
  return (size + MIB - 1) / MIB * MIB;
}

static uint64_t walk_bytes, walk_entries;

static int
count_entry (const char *path, const struct stat *st, int flag,
             struct FTW *ftw)
{
  (void) path, (void) flag, (void) ftw;
  walk_bytes += (uint64_t) st->st_size;
  walk_entries++;
  return 0;
}

static const char *
mkfs_path (void)
{
  static const char *const candidates[]
      = { "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4" };
  for (size_t i = 0; i < 2; i++)
    if (access (candidates[i], X_OK) == 0)
      return candidates[i];
  return NULL;
}

/* The snapshot containerd prepared, mounted on dir.  */
static int
mount_snapshot (const char *dir, const struct rootfs_mount *mounts,
                size_t nmounts, shim_error **err)
{
  for (size_t i = 0; i < nmounts; i++)
    {
      strbuf data = STRBUF_INIT;
      unsigned long flags
          = mount_options_parse (mounts[i].options, mounts[i].noptions, &data);
      const char *type
          = strcmp (mounts[i].type, "bind") == 0 ? NULL : mounts[i].type;
      int r = mount (mounts[i].source, dir, type, flags,
                     data.len ? data.data : NULL);
      strbuf_release (&data);
      if (r < 0)
        return shim_error_errno (err, GRPC_INTERNAL, errno,
                                 "mount the %s snapshot on %s", mounts[i].type,
                                 dir);
    }
  return 0;
}

static void
job_free (uv_handle_t *h)
{
  struct rootfs_image_job *j = (struct rootfs_image_job *) h;
  free (j->dir);
  free (j->image);
  free (j);
}

static void
unmount_snapshot (struct rootfs_image_job *j)
{
  if (j->mounted && umount2 (j->dir, MNT_DETACH) < 0)
    log_warn ("unmount %s: %s", j->dir, strerror (errno));
  j->mounted = false;
}

static void
on_mkfs_exit (uv_process_t *p, int64_t status, int term_signal)
{
  struct rootfs_image_job *j = (struct rootfs_image_job *) p;
  unmount_snapshot (j);
  if (!j->cancelled)
    {
      shim_error e = { GRPC_INTERNAL, NULL };
      if (status != 0 || term_signal != 0)
        e.msg = xasprintf ("mkfs.ext4 -d %s failed (status %lld, signal %d)",
                           j->dir, (long long) status, term_signal);
      j->done (j->data, e.msg ? &e : NULL);
      free (e.msg);
    }
  uv_close ((uv_handle_t *) p, job_free);
}

int
rootfs_image_build (uv_loop_t *loop, const char *dir,
                    const struct rootfs_mount *mounts, size_t nmounts,
                    const char *image, rootfs_image_done_fn done, void *data,
                    struct rootfs_image_job **out, shim_error **err)
{
  const char *mkfs = mkfs_path ();
  if (mkfs == NULL)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "mkfs.ext4 not found (install e2fsprogs)");
  struct rootfs_image_job *j = xzalloc (sizeof *j);
  j->dir = xstrdup (dir);
  j->image = xstrdup (image);
  j->done = done;
  j->data = data;
  if (nmounts > 0)
    {
      if (mount_snapshot (dir, mounts, nmounts, err) < 0)
        goto fail;
      j->mounted = true;
    }
  walk_bytes = walk_entries = 0;
  if (nftw (dir, count_entry, 64, FTW_PHYS | FTW_MOUNT) < 0)
    {
      shim_error_errno (err, GRPC_INVALID_ARGUMENT, errno,
                        "read the root filesystem %s", dir);
      goto fail;
    }
  char size_k[32], inodes[32];
  snprintf (size_k, sizeof size_k, "%lluk",
            (unsigned long long) (rootfs_image_size (walk_bytes, walk_entries)
                                  / 1024));
  snprintf (inodes, sizeof inodes, "%llu",
            (unsigned long long) walk_entries + 256);
  char *args[]
      = { (char *) mkfs, "-q", "-F",   "-O",     "^has_journal", "-N",
          inodes,        "-d", j->dir, j->image, size_k,         NULL };
  uv_stdio_container_t stdio[3] = { { UV_IGNORE, { 0 } },
                                    { UV_IGNORE, { 0 } },
                                    { UV_INHERIT_FD, { .fd = 2 } } };
  uv_process_options_t opts = { .exit_cb = on_mkfs_exit,
                                .file = mkfs,
                                .args = args,
                                .stdio_count = 3,
                                .stdio = stdio };
  int r = uv_spawn (loop, &j->proc, &opts);
  if (r < 0)
    {
      shim_error_set (err, GRPC_INTERNAL, "spawn %s: %s", mkfs,
                      uv_strerror (r));
      unmount_snapshot (j);
      /* A failed spawn's handle still closes through the loop.  */
      uv_close ((uv_handle_t *) &j->proc, job_free);
      return -1;
    }
  *out = j;
  return 0;
fail:
  unmount_snapshot (j);
  free (j->dir);
  free (j->image);
  free (j);
  return -1;
}

void
rootfs_image_cancel (struct rootfs_image_job *j)
{
  if (j == NULL)
    return;
  j->cancelled = true;
  uv_process_kill (&j->proc, SIGKILL);
}
