/* What a pod's bind mount is, by its source's place in the kubelet's pod
   directory (<kubelet root>/pods/<pod uid>/...) or in containerd's CRI
   sandbox directory: content the shim copies into the guest (and keeps in
   sync), a directory the guest makes for the pod, or a host directory.
   Content lives in the guest, so it follows a live-migrated VM: it is
   allowed in migratable pods (docs/architecture.md).  Pure.  */
#ifndef LCOW_POLICY_POD_CONTENT_H
#define LCOW_POLICY_POD_CONTENT_H

#include <stddef.h>

#include "proto/oci_spec.h"

enum pod_content_kind
{
  POD_CONTENT_NONE,            /* a host directory or file: needs a share */
  POD_CONTENT_CRI_FILE,        /* containerd's hosts, hostname, resolv.conf */
  POD_CONTENT_SHM,             /* containerd's shm: a tmpfs in the guest */
  POD_CONTENT_FILE,            /* the kubelet's etc-hosts */
  POD_CONTENT_TERMINATION_LOG, /* pods/<uid>/containers/<name>/<n> */
  /* A volume whose content the kubelet writes (configMap, secret,
     projected, downwardAPI): copied as a directory, kept in sync.  */
  POD_CONTENT_VOLUME,
  POD_CONTENT_EMPTY_DIR, /* a directory in the guest, shared by the pod */
};

/* The kind of m for a container of the pod with CRI sandbox id sandbox_id
   and pod uid pod_uid (either may be NULL).  For an emptyDir, *name (if
   name is not NULL) points at its volume name within m->source.  */
enum pod_content_kind pod_content_kind (const struct oci_mount *m,
                                        const char *sandbox_id,
                                        const char *pod_uid,
                                        const char **name);

#endif
