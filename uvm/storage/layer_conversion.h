/* One layer image made ready for a sandbox: the layer-convert helper
   (layer_convert.h) run as a child process, its answer logged, and a cached
   image locked for our use (a shared flock, which the cache's eviction
   respects).  Another shim's eviction can remove a cached image between
   its conversion and our lock: then it is converted again (3 tries).  */
#ifndef LCOW_UVM_LAYER_CONVERSION_H
#define LCOW_UVM_LAYER_CONVERSION_H

#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

struct layer_conversion;

struct layer_conversion_request
{
  const char *helper_exe;
  const char *dir;   /* the layer's tree */
  const char *image; /* where its image is (cached: in cache_dir) */
  /* Cached layers: the key, the cache and its bound; NULL key: uncached.  */
  const char *key;
  const char *cache_dir;
  uint64_t cache_max_mb;
};

/* The image is there: lock_fd holds a cached one (the caller closes it to
   let go), -1 for an uncached one; digest is its "sha256:<hex>"; or why
   not.  */
typedef void (*layer_conversion_fn) (void *data, int lock_fd,
                                     const char *digest,
                                     const shim_error *err);

int layer_conversion_start (uv_loop_t *loop,
                            const struct layer_conversion_request *req,
                            layer_conversion_fn done, void *data,
                            struct layer_conversion **out, shim_error **err);
/* Kills the helper; done is not called.  */
void layer_conversion_cancel (struct layer_conversion *c);

#endif
