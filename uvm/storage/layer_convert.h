/* The layer-convert helper: the shim runs its own binary as
   "layer-convert" in a child process, so that building an image (seconds
   for a large layer) never stalls the event loop.

     layer-convert --cache DIR --max-mb N --key K SRC
         makes sure DIR/K.erofs is SRC's image (built under K.lock, so two
         shims converting one layer build it once), then evicts unused
         images beyond N MiB (see layer_cache.h)
     layer-convert --out IMAGE SRC
         builds IMAGE from SRC, uncached

   It answers on stdout, one line each: "converted BYTES MS" or
   "cached BYTES", then "digest sha256:HEX" (converted only), then
   "evicted K BYTES" per removed image; or "error MESSAGE" with status 1.  */
#ifndef LCOW_UVM_LAYER_CONVERT_H
#define LCOW_UVM_LAYER_CONVERT_H

#define LAYER_CONVERT_COMMAND "layer-convert"

/* argv[0] is "layer-convert".  Returns the exit status.  */
int layer_convert_main (int argc, char **argv);

#endif
