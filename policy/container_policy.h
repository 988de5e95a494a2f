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
   sandbox_id and pod_uid are the pod's CRI sandbox id and pod uid (NULL if
   none): pod content (pod_content.h) is copied into the guest, not
   shared.  */
unsigned mount_classify (const struct oci_mount *m, const char *sandbox_id,
                         const char *pod_uid);
void container_policy_check (const struct oci_spec *spec,
                             struct policy_problems *problems);

#endif
