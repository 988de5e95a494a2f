/* See rootfs_path.h.  */
#include "rootfs_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/xalloc.h"

/* An O_PATH fd of rel resolved within root (openat2 takes no other flag
   with O_PATH).  */
static int
open_in_root (int root, const char *rel, int flags)
{
  struct open_how how = {
    .flags = (uint64_t) (O_PATH | O_CLOEXEC | flags),
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  return (int) syscall (SYS_openat2, root, *rel ? rel : ".", &how, sizeof how);
}

int
rootfs_path_parent (int root, const char *path, char **last)
{
  cleanup_free char *rel = xstrdup (path + strspn (path, "/"));
  size_t n = strlen (rel);
  while (n > 0 && rel[n - 1] == '/')
    rel[--n] = '\0';
  char *slash = strrchr (rel, '/');
  const char *name = slash != NULL ? slash + 1 : rel;
  if (*name == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    {
      errno = EINVAL;
      return -1;
    }
  int dir = open_in_root (root, "", O_DIRECTORY);
  /* Each prefix is resolved from the root, so that an absolute symlink
     anywhere on the way lands within it.  */
  for (char *end = rel; dir >= 0 && slash != NULL && end < slash;)
    {
      end = strchr (end + 1, '/');
      *end = '\0';
      int next = open_in_root (root, rel, O_DIRECTORY);
      if (next < 0 && errno == ENOENT)
        {
          const char *comp = strrchr (rel, '/');
          if (mkdirat (dir, comp ? comp + 1 : rel, 0755) == 0
              || errno == EEXIST)
            next = open_in_root (root, rel, O_DIRECTORY);
        }
      *end = '/';
      int e = errno;
      close (dir);
      errno = e;
      dir = next;
    }
  if (dir >= 0)
    *last = xstrdup (name);
  return dir;
}

int
rootfs_path_mount_point (int root, const char *path, bool file)
{
  char *last = NULL;
  int parent = rootfs_path_parent (root, path, &last);
  if (parent < 0)
    return -1;
  /* What is there already (a symlink of the image's too) stays.  */
  if (file)
    {
      int fd = openat (
          parent, last,
          O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
      if (fd >= 0)
        close (fd);
    }
  else
    mkdirat (parent, last, 0755);
  close (parent);
  free (last);
  return open_in_root (root, path + strspn (path, "/"), 0);
}
