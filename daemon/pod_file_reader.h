/* Reads a container's pod content (policy/pod_file_binds.h) on libuv's
   thread pool.  A file is opened beneath its root without following a
   symlink anywhere (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); a
   volume's directory is reached the same way, and within it the kubelet's
   own symlinks (key -> ..data/key -> ..<timestamp>/key) are followed only
   while they stay beneath the volume (RESOLVE_BENEATH); entries whose name
   starts with ".." are the kubelet's bookkeeping and are skipped.  Without
   blocking (O_NONBLOCK: a FIFO cannot hold the open), regular files only,
   at most POD_FILE_MAX bytes each, POD_CONTENT_MAX in all, POD_VOLUME_FILES
   files and POD_VOLUME_DEPTH levels per volume.  The event loop never
   waits for the host's file system.  */
#ifndef LCOW_POD_FILE_READER_H
#define LCOW_POD_FILE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "policy/pod_file_binds.h"
#include "proto/base/error.h"
#include "proto/base/sha256.h"
#include "uvm/bridge/bridge.h"

/* Largest pod file copied into the guest (a Kubernetes secret or configMap
   holds at most 1 MiB).  */
#define POD_FILE_MAX (1u << 20)
/* All of a container's pod content: the guest bridge carries 4 MiB.  */
#define POD_CONTENT_MAX (3u << 20)
#define POD_VOLUME_FILES 1024
#define POD_VOLUME_DEPTH 8

struct pod_file_reader;

/* A pod file opened beneath its root (one of pod_file_roots) without
   following a symlink anywhere on the way; -1 with errno.  */
int pod_file_open (const char *root, const char *relative, int flags);

/* What changes when a volume does, found without reading a file: the
   target of the kubelet's ..data link (its atomic writer replaces the link
   at every update), or for a volume without one, a digest of every entry's
   name, inode, size, mode and times.  */
typedef uint8_t pod_volume_stamp[SHA256_DIGEST_LEN];

/* Every file read: a file bind's content under its destination, a volume's
   files under <destination>/<path in the volume>; each bind's stamp
   (volumes only; zeroes for the others); err names every bind that could
   not be read.  Valid during the call.  */
typedef void (*pod_file_reader_done_fn) (void *data,
                                         const struct bridge_pod_file *files,
                                         size_t n,
                                         const pod_volume_stamp *stamps,
                                         const shim_error *err);

/* Copies what it needs of binds (emptyDir binds read nothing); without
   content, only the volumes' stamps are taken (no file is read).  done is
   called once, on the loop, unless cancelled first.  */
void pod_file_reader_start (uv_loop_t *loop, const struct pod_file_bind *binds,
                            size_t n, bool content,
                            pod_file_reader_done_fn done, void *data,
                            struct pod_file_reader **out);
/* No call of done after this; the reader frees itself when its thread is
   done.  */
void pod_file_reader_cancel (struct pod_file_reader *r);

#endif
