/* What a container in a live-migratable sandbox may not ask for: device
   assignments, VHD mounts and host directory mounts.  Pure.  */
#ifndef LCOW_POLICY_CONTAINER_POLICY_H
#define LCOW_POLICY_CONTAINER_POLICY_H

#include <stdbool.h>

#include "problems.h"
#include "proto/oci_spec.h"

enum mount_class
{
  MOUNT_CLASS_VHD = 1 << 0,
  MOUNT_CLASS_DIRECTORY = 1 << 1,
};

/* Bit set of enum mount_class; 0 for mounts that stay allowed.
   sandbox_id is the pod's CRI sandbox id (NULL if none): the pod files
   containerd's CRI plugin binds from that sandbox's directory are content
   the shim copies, not directory shares.  */
unsigned mount_classify (const struct oci_mount *m, const char *sandbox_id);
/* True for the CRI pod-file bind mounts (/etc/hosts, /etc/hostname,
   /etc/resolv.conf, /dev/shm) of the given sandbox.  */
bool mount_is_cri_pod_file (const struct oci_mount *m, const char *sandbox_id);
/* A bind mount: type "bind", or a "bind"/"rbind" option.  */
bool mount_is_bind (const struct oci_mount *m);
/* /etc/hosts, /etc/hostname, /etc/resolv.conf or /dev/shm: where pod files
   go, wherever they come from.  */
bool mount_is_pod_file_destination (const char *destination);
void container_policy_check (const struct oci_spec *spec,
                             struct policy_problems *problems);

#endif
