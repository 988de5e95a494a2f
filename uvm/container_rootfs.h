/* A container's root filesystem for the guest: the layers of its plan
   (rootfs_layers.h) claimed from the sandbox's layer set, their SCSI
   targets handed over once every one is attached.  */
#ifndef LCOW_UVM_CONTAINER_ROOTFS_H
#define LCOW_UVM_CONTAINER_ROOTFS_H

#include <stddef.h>
#include <stdint.h>

#include "layer_set.h"
#include "uvm/storage/rootfs_layers.h"

struct container_rootfs;

/* The layers' targets, top first, or why not.  */
typedef void (*container_rootfs_fn) (void *data, const uint32_t *targets,
                                     size_t n, const shim_error *err);

/* Mounts the snapshot first when it is not an overlay of directories,
   leaves out an empty upper layer, claims the layers.  ready is called
   once unless *out is released first: later, or before this returns (*out
   is set by then) when the VM has every layer already.  With expect (a
   live migration's destination: the source's layers, top first), the
   layers must be as many, each the same image at the same target.  */
int container_rootfs_prepare (struct layer_set *s,
                              const struct rootfs_mount *mounts,
                              size_t nmounts, const char *rootfs_dir,
                              const struct layer_expectation *expect,
                              size_t nexpect, container_rootfs_fn ready,
                              void *data, struct container_rootfs **out,
                              shim_error **err);
/* Once ready: its layers, top first, with their SCSI targets and image
   digests.  */
size_t container_rootfs_layer_count (const struct container_rootfs *r);
void container_rootfs_layer (const struct container_rootfs *r, size_t i,
                             uint32_t *target, const char **digest);
/* Lets go of the layers (and the snapshot mount); frees r.  */
void container_rootfs_release (struct container_rootfs *r);

#endif
