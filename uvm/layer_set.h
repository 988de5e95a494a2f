/* The layer images a sandbox's VM has: each converted once (cached on the
   host or, for a container's own tree, not; see rootfs_layers.h) and
   attached to the VM once, shared by every container of the sandbox that
   uses it, reference-counted.  When the last user lets go, the guest lets
   go of the disk ("disk_remove") and the disk is unplugged; a cached
   image then stays in the host's cache (layer_cache.h) for the next
   sandbox.  Conversions run in child processes (layer_convert.h): the loop
   never waits for one, and containers that want one layer at the same
   time wait for the same conversion.  An image containerd made already
   (its EROFS snapshotter's) is attached as it is, never converted nor
   removed; a live-migratable sandbox's set takes none (portable), since
   its destination must have the same bytes: containerd's images are this
   host's own (a random UUID, the time they were made).  */
#ifndef LCOW_UVM_LAYER_SET_H
#define LCOW_UVM_LAYER_SET_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

struct uvm;
struct layer_set;
struct layer_use;

struct layer_set_config
{
  uv_loop_t *loop;
  const char *helper_exe; /* the shim's binary, run as layer-convert */
  const char *cache_dir;
  uint64_t cache_max_mb;
  /* Uncached images of this sandbox's containers.  */
  const char *scratch_dir;
  /* Every image reproducible on another host (a live-migratable sandbox).  */
  bool portable;
};

/* Where a layer comes from.  */
enum layer_source
{
  LAYER_SNAPSHOT, /* a committed snapshot directory: converted, cached */
  LAYER_TREE,     /* a container's own tree: converted, not cached */
  LAYER_IMAGE,    /* containerd's EROFS image file: attached as it is */
};

struct layer_set *layer_set_new (const struct layer_set_config *cfg,
                                 struct uvm *u);

/* A live migration's destination: the layer must be the source's image
   (its digest, "sha256:<hex>") at the source's SCSI target.  */
struct layer_expectation
{
  uint32_t target;
  const char *digest;
};
/* The layer's SCSI target in the VM, or why it cannot be had.  */
typedef void (*layer_ready_fn) (void *data, uint32_t target,
                                const shim_error *err);

/* Whether the set takes only images it can build identically elsewhere.  */
bool layer_set_portable (const struct layer_set *s);

/* Claims the layer at path (a directory, or with LAYER_IMAGE an EROFS image
   file; a portable set refuses that) for a container;
   done is called once unless the use is released first: later, or before
   this returns when the VM has the layer already.  NULL with *err when path
   cannot be a layer.  With expect (copied), a use whose image or target
   differs is answered with FailedPrecondition naming both.  */
struct layer_use *layer_set_acquire (struct layer_set *s, const char *path,
                                     enum layer_source source,
                                     const struct layer_expectation *expect,
                                     layer_ready_fn done, void *data,
                                     shim_error **err);
/* The image digest of an answered use ("sha256:<hex>"), or "".  */
const char *layer_use_digest (const struct layer_use *use);
/* Lets go of a use (answered or not); frees it.  */
void layer_set_release (struct layer_use *use);

/* The VM is going: its disks go with it, nothing more is asked of it.  */
void layer_set_forget_vm (struct layer_set *s);
/* Every use released: stops conversions, lets go of every image, removes
   the scratch directory; s frees itself once its children are gone.  */
void layer_set_close (struct layer_set *s);

#endif
