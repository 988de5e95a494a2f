#include "snapshot_mount.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>

#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/mount_options.h"

int
snapshot_mount (const char *dir, const struct rootfs_mount *mounts,
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
        {
          int saved = errno;
          snapshot_unmount (dir);
          return shim_error_errno (err, GRPC_INTERNAL, saved,
                                   "mount the %s snapshot on %s",
                                   mounts[i].type, dir);
        }
    }
  return 0;
}

void
snapshot_unmount (const char *dir)
{
  /* Stacked mounts come off one at a time.  */
  while (umount2 (dir, MNT_DETACH) == 0)
    ;
  if (errno != EINVAL && errno != ENOENT)
    log_warn ("unmount %s: %s", dir, strerror (errno));
}
