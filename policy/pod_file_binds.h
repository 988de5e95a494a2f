/* Which bind mounts of a container are pod content the shim copies into
   the UVM (pod_content.h: containerd's and the kubelet's pod files, the
   termination log, the kubelet's configMap, secret, projected and
   downwardAPI volumes) or a directory the guest makes (emptyDir), and
   whether their sources may be read: each destination at most once, each
   source an absolute path without "." or ".." beneath one of the
   configured roots (containerd's and the kubelet's pod directories), in
   the directory of this pod (named by its sandbox id or its pod uid).
   /dev/shm binds are a tmpfs in the guest; every other bind (a hostPath,
   any host directory or file) goes through the VM's host share
   (uvm/host_share.h) when it has one, and is refused otherwise.  No bind
   may ask for shared propagation (Bidirectional): a mount made in the VM
   cannot reach the host.  Pure: the
   reading (files without following symlinks; volumes without leaving
   them) is daemon/pod_file_reader.c.  */
#ifndef LCOW_POLICY_POD_FILE_BINDS_H
#define LCOW_POLICY_POD_FILE_BINDS_H

#include <stdbool.h>
#include <stddef.h>

#include "pod_content.h"
#include "proto/base/error.h"
#include "proto/mount_options.h"
#include "proto/oci_spec.h"

/* containerd 1.6's CRI plugin: <root>/io.containerd.grpc.v1.cri/sandboxes/
   <sandbox id>/{hosts,hostname,resolv.conf}; the kubelet:
   /var/lib/kubelet/pods/<pod uid>/etc-hosts.  */
#define POD_FILE_ROOTS_DEFAULT                                                \
  {                                                                           \
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes",                \
        "/var/lib/kubelet/pods"                                               \
  }
#define POD_FILE_ANNOTATION_POD_UID "io.kubernetes.cri.sandbox-uid"

struct pod_file_bind
{
  enum pod_content_kind kind;
  const char *destination;
  /* An emptyDir's volume name (no source is read).  */
  const char *name;
  /* The root it is beneath (one of the configured roots), and the path
     below it.  */
  const char *root;
  const char *relative;
  /* POD_CONTENT_NONE: the host path shared into the VM, and how the
     container's mount asks for it (read-only, recursive, propagation).  */
  const char *host_source;
  struct bind_options options;
};

/* Fills binds (room for spec->nmounts) and *n; -1 (InvalidArgument) naming
   every bind refused.  Pointers are into spec and roots.  */
int pod_file_binds_plan (const struct oci_spec *spec, char *const *roots,
                         size_t nroots, const char *sandbox_id,
                         bool host_share, struct pod_file_bind *binds,
                         size_t *n, shim_error **err);

#endif
