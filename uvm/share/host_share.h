/* Host directories shared into one sandbox's VM (virtio-fs), for a pod
   that is not live-migratable: the pod's hostPath volumes and other host
   binds.  One directory per sandbox (<state>/share: a small tmpfs of its
   own, read-only, with shared propagation), exported by one virtiofsd,
   which runs as
   root in its own mount, pid and network namespaces (its default sandbox)
   with the shim's vmm-exec helper (the pod's cgroup, the parent-death
   signal), and serves one VMM connection: each boot attempt gets a fresh
   one, on a vhost-user socket the shim makes for the VMM's uid.  Each host
   path a container binds is copied as a detached mount tree, made
   read-only (recursively) when the container's mount is and private or
   slave (never a peer of the host's mounts, so nothing done to it
   propagates back), then attached beneath the directory on a mount point
   made where the guest cannot reach; it so appears in virtiofsd's
   namespace and in the guest at BRIDGE_SHARE_DIR/<name> (the virtio-fs
   tag is BRIDGE_SHARE_TAG).  The guest can write only beneath a writable
   bind, into that bind's own filesystem.  */
#ifndef LCOW_UVM_HOST_SHARE_H
#define LCOW_UVM_HOST_SHARE_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "uvm/bridge/bridge_protocol.h"
#include "proto/base/error.h"
#include "proto/mount_options.h"

/* In the state directory.  */
#define HOST_SHARE_DIR_NAME "share"
/* The share's root holds only mount points (an inode each).  */
#define HOST_SHARE_ROOT_SIZE "64k"
#define HOST_SHARE_ROOT_INODES "4096"

struct host_share;

struct host_share_config
{
  uv_loop_t *loop;
  const char *state_dir;
  const char *virtiofsd;
  /* The shim's executable: virtiofsd runs through its vmm-exec helper.  */
  const char *helper_exe;
  /* The pod's cgroup, or NULL.  */
  const char *cgroup_dir;
  /* The vhost-user socket the VMM connects to, and the VMM's identity.  */
  const char *socket_path;
  uid_t vmm_uid;
  gid_t vmm_gid;
  /* Names the sandbox in the log.  */
  const char *id;
};

int host_share_open (const struct host_share_config *c,
                     struct host_share **out, shim_error **err);
/* A fresh virtiofsd for the next VMM (one serves one connection); the
   previous one, if any, is stopped.  */
int host_share_start_daemon (struct host_share *s, shim_error **err);
/* Its VMM is gone: virtiofsd is killed (s may be NULL).  */
void host_share_stop_daemon (struct host_share *s);
/* source (an absolute host path) bound beneath the share as options ask
   (shared propagation is the caller's to refuse; it is made private):
   *name is where, beneath BRIDGE_SHARE_DIR in the guest.  */
int host_share_bind (struct host_share *s, const char *source,
                     const struct bind_options *options, char **name,
                     shim_error **err);
void host_share_unbind (struct host_share *s, const char *name);
/* Stops virtiofsd, detaches every bind and the share, removes it; frees
   s.  */
void host_share_close (struct host_share *s);
/* For the delete action after a crash: the share's mounts detached.  */
void host_share_cleanup_orphan (const char *state_dir);

#endif
