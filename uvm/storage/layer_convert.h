/* The layer-convert helper: the shim runs its own binary as
   "layer-convert" in a child process, so that building an image (seconds
   for a large layer) never stalls the event loop.

     layer-convert --cache DIR --max-mb N --key K SRC
         makes sure DIR/K.erofs is SRC's image (built under K.lock, so two
         shims converting one layer build it once), then evicts unused
         images beyond N MiB (see layer_cache.h)
     layer-convert --out IMAGE SRC
         builds IMAGE from SRC, uncached

   It answers one JSON value on stdout (uvm/helper/helper_run.h):
   {"outcome": "converted" | "cached", "bytes": N, "ms": N,
    "digest": "sha256:HEX" (converted; "" when found cached),
    "evicted": [{"key": K, "bytes": N}, ...]}, or an error with status 1.  */
#ifndef LCOW_UVM_LAYER_CONVERT_H
#define LCOW_UVM_LAYER_CONVERT_H

#define LAYER_CONVERT_COMMAND "layer-convert"

/* argv[0] is "layer-convert".  Returns the exit status.  */
int layer_convert_main (int argc, char **argv);

#endif
