#include "erofs_snapshot.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/xalloc.h"

/* EROFS's superblock: its magic, little-endian, 1024 bytes in.  */
#define EROFS_SUPER_OFFSET 1024
#define EROFS_SUPER_MAGIC 0xE0F5E1E2u

static bool
is_erofs_image (const char *path)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  unsigned char m[4];
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || pread (fd, m, sizeof m, EROFS_SUPER_OFFSET) != (ssize_t) sizeof m)
    return false;
  return ((uint32_t) m[0] | (uint32_t) m[1] << 8 | (uint32_t) m[2] << 16
          | (uint32_t) m[3] << 24)
         == EROFS_SUPER_MAGIC;
}

char *
erofs_snapshot_image (const char *lowerdir)
{
  size_t n = strlen (lowerdir);
  if (n < 4 || strcmp (lowerdir + n - 3, "/fs") != 0)
    return NULL;
  cleanup_free char *mark
      = xasprintf ("%.*s/.erofslayer", (int) (n - 3), lowerdir);
  char *image = xasprintf ("%.*s/layer.erofs", (int) (n - 3), lowerdir);
  if (access (mark, F_OK) == 0 && is_erofs_image (image))
    return image;
  free (image);
  return NULL;
}
