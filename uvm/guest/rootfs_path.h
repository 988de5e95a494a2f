/* Paths inside a container's root as the container will see them: every
   symlink on the way (the image's own) is resolved within the root
   (openat2 RESOLVE_IN_ROOT), never out of it, and missing directories are
   made there.  Mount points, device nodes and the standard devices go
   through here, so an image cannot point them at the guest's own files.  */
#ifndef LCOW_UVM_GUEST_ROOTFS_PATH_H
#define LCOW_UVM_GUEST_ROOTFS_PATH_H

#include <stdbool.h>

/* The directory that holds path (absolute in the container) beneath root
   (an fd of the container's root directory), made as needed (0755), as an
   O_PATH fd; *last is path's last component.  -1 with errno (EINVAL for
   "/" or an empty last component).  */
int rootfs_path_parent (int root, const char *path, char **last);
/* The mount point at path: made when missing (a file when file, else a
   directory), then opened (O_PATH) as resolved within root, for
   mount(2) through /proc/self/fd.  -1 with errno.  */
int rootfs_path_mount_point (int root, const char *path, bool file);

#endif
