/* The host's cache of read-only layer images: one EROFS image per committed
   snapshot directory (an image layer containerd unpacked), built once per
   host and shared by every sandbox that uses the layer.

   In the cache directory, for a layer whose key is K:
     K.erofs   the image (its mtime: when a sandbox last asked for it)
     K.json    {"source", "digest": "sha256:<hex of K.erofs>", "bytes",
               "mkfs"}: what it was built from, and its content digest
     K.lock    held exclusively while K is converted (flock)
     .K.tmp    the image being built
   A sandbox whose VM has K attached holds a shared flock on K.erofs; the
   eviction pass removes only images it can lock exclusively, so it never
   removes one in use.  Pure: names, keys and the eviction choice.  */
#ifndef LCOW_UVM_LAYER_CACHE_H
#define LCOW_UVM_LAYER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A key: 64 lower-case hex digits.  */
#define LAYER_KEY_LEN 64

/* The key of a committed snapshot directory: a digest of its path and its
   identity (device, inode, birth time), found without reading its files.
   containerd never changes a committed snapshot, and a directory made anew
   at the same path (another containerd root, a snapshot id reused after a
   wipe) has another inode or birth time.  */
void layer_cache_key (const char *path, uint64_t dev, uint64_t ino,
                      int64_t birth_ns, char out[LAYER_KEY_LEN + 1]);
/* Whether name is K.erofs for a well-formed key K (K copied to key).  */
bool layer_cache_image_name (const char *name, char key[LAYER_KEY_LEN + 1]);

struct layer_cache_entry
{
  size_t id; /* the caller's */
  uint64_t bytes;
  int64_t used_ns; /* the image's mtime */
  bool in_use;     /* locked by a sandbox, or the layer just asked for */
  bool evict;      /* out: chosen */
};

/* Chooses the images to remove so that the cache holds at most max_bytes:
   least recently used first, never one in use.  Returns the bytes that
   stay (more than max_bytes when images in use need more).  Sorts e.  */
uint64_t layer_cache_pick_victims (struct layer_cache_entry *e, size_t n,
                                   uint64_t max_bytes);

#endif
