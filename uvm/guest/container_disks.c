/* Layer disks: the SCSI device the host hot-added, found by its target,
   mounted once per pod, and let go of before the host unplugs it.  */
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

/* The block device of SCSI target `target` (LUN 0), waiting for the
   hot-plug to arrive: in sysfs, then as a node that devtmpfs creates
   asynchronously, then as a device that opens.  */
static int
find_disk (uint32_t target, char **out, shim_error **err)
{
  char pattern[96];
  snprintf (pattern, sizeof pattern, "/sys/bus/scsi/devices/*:0:%u:0/block/*",
            target);
  for (int waited = 0; waited < DISK_WAIT_MS; waited += 20)
    {
      glob_t g;
      if (glob (pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
        {
          const char *name = strrchr (g.gl_pathv[0], '/') + 1;
          char node[96];
          snprintf (node, sizeof node, "/dev/%s", name);
          /* The node comes before the device is registered (ENXIO).  */
          int fd = open (node, O_RDONLY | O_CLOEXEC);
          if (fd >= 0)
            {
              close (fd);
              *out = xstrdup (name);
              globfree (&g);
              return 0;
            }
        }
      globfree (&g);
      sleep_ms (20);
    }
  return shim_error_set (err, GRPC_NOT_FOUND,
                         "no disk at SCSI target %u after %d ms", target,
                         DISK_WAIT_MS);
}

int
mount_or_fail (const char *src, const char *dst, const char *type,
               unsigned long flags, const char *data, shim_error **err)
{
  if (mount (src, dst, type, flags, data) < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "mount %s on %s", type ? type : src, dst);
  return 0;
}

#define LAYER_TARGETS 256
static bool layer_mounted[LAYER_TARGETS];

int
layer_mount (uint32_t target, shim_error **err)
{
  if (target >= LAYER_TARGETS)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "layer disk at SCSI target %u: out of range",
                           target);
  if (layer_mounted[target])
    return 0;
  cleanup_free char *name = NULL;
  cleanup_free char *dir = xasprintf (LAYERS_DIR "/%u", target);
  if (find_disk (target, &name, err) < 0 || mkdir_p (dir, 0700, err) < 0)
    return -1;
  cleanup_free char *dev = xasprintf ("/dev/%s", name);
  if (mount_or_fail (dev, dir, "erofs", MS_RDONLY | MS_NODEV, NULL, err) < 0)
    return -1;
  layer_mounted[target] = true;
  agent_log (L_INFO, "layer disk mounted", "disk", dev);
  return 0;
}

int
container_disk_remove (uint32_t target, shim_error **err)
{
  if (target >= LAYER_TARGETS)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "SCSI target %u: out of range", target);
  cleanup_free char *dir = xasprintf (LAYERS_DIR "/%u", target);
  if (layer_mounted[target] && umount2 (dir, 0) < 0
      && umount2 (dir, MNT_DETACH) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "unmount %s", dir);
  layer_mounted[target] = false;
  rmdir (dir);
  cleanup_free char *name = NULL;
  /* The host unplugs it next: the guest lets go first.  */
  char pattern[96];
  snprintf (pattern, sizeof pattern, "/sys/bus/scsi/devices/*:0:%u:0/delete",
            target);
  glob_t g;
  if (glob (pattern, 0, NULL, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; i++)
      write_text (g.gl_pathv[i], "1");
  globfree (&g);
  return 0;
}
