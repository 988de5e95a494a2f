/* What the files of a container share (container.h is the interface):
   the record, and each file's functions the others call.  */
#ifndef LCOW_GUEST_CONTAINER_PRIVATE_H
#define LCOW_GUEST_CONTAINER_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "container.h"

/* Each layer disk is mounted once, read-only, at LAYERS_DIR/<target>, for
   every container that stacks it, until the host removes it
   (container_disks.c).  */
#define LAYERS_DIR "/run/gcs/d"
#define CONTAINERS_DIR "/run/gcs/c"
#define CGROUP_ROOT "/sys/fs/cgroup"
/* How long a hot-added disk may take to appear.  */
#define DISK_WAIT_MS 10000

struct container
{
  char *id;
  char *dir;    /* CONTAINERS_DIR/<id> */
  char *rootfs; /* <dir>/rootfs: the overlay */
  char *cgroup; /* CGROUP_ROOT/<id> */
  struct oci_spec *spec;
  /* Pod files: destination in the container, file in <dir>/files.  */
  struct bridge_file *files;
  size_t nfiles;
  /* Volumes: destination in the container, copy in <dir>/v<i>, at its
     version (see write_volume).  */
  char **volumes;
  unsigned *volume_versions;
  size_t nvolumes;
  /* emptyDirs and host shares: destination, and the guest directory (or
     file) bound there (the pod's emptyDir, or beneath BRIDGE_SHARE_DIR).  */
  struct bridge_empty_dir *bound_dirs;
  size_t nbound_dirs;
  char *termination_log; /* its destination, or NULL */
  pid_t init_pid;
  /* The pod's hostname (or NULL) and sysctls, from the create request:
     for the pod's namespaces, if this container starts them.  */
  char *pod_hostname;
  struct oci_key_value *pod_sysctls;
  size_t npod_sysctls;
  bool mounted_scratch, mounted_rootfs;
};

/* container.c */
void sleep_ms (long ms);
int write_text (const char *path, const char *text);

/* container_disks.c */
int mount_or_fail (const char *src, const char *dst, const char *type,
                   unsigned long flags, const char *data, shim_error **err);
int layer_mount (uint32_t target, shim_error **err);

/* container_files.c */
int write_pod_files (struct container *c, const struct bridge_request *req,
                     shim_error **err);
int volume_index (const struct container *c, const char *dest);

/* container_resources.c */
int restrict_devices (const struct oci_spec *spec, const char *cgroup,
                      shim_error **err);
int apply_resources (const struct container *c, const struct oci_resources *r,
                     shim_error **err);
unsigned long long read_number_field (const char *path, const char *key);
size_t container_pids (const struct container *c, long **out);

/* container_mounts.c */
void mount_spec (const struct container *c, int root, int status_fd);
void make_spec_devices (const struct container *c, int root, int status_fd);
void make_devices (int root);
void enter_root (const char *rootfs, bool readonly, int status_fd);
void protect_paths (const struct oci_spec *s, int status_fd);

/* container_process.c */
__attribute__ ((noreturn)) void child_fail (int status_fd, const char *what);

#endif
