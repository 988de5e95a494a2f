/* Reads a container's pod files (policy/pod_file_binds.h) on libuv's
   thread pool: each opened beneath its root without following a symlink
   anywhere (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), without
   blocking (O_NONBLOCK: a FIFO cannot hold the open), a regular file only,
   at most POD_FILE_MAX bytes.  The event loop never waits for the host's
   file system.  */
#ifndef LCOW_POD_FILE_READER_H
#define LCOW_POD_FILE_READER_H

#include <stddef.h>
#include <uv.h>

#include "policy/pod_file_binds.h"
#include "proto/base/error.h"
#include "uvm/bridge.h"

/* Largest pod file copied into the guest.  */
#define POD_FILE_MAX (256u << 10)

struct pod_file_reader;

/* files[i] for binds[i], valid during the call; err names every file that
   could not be read.  */
typedef void (*pod_file_reader_done_fn) (void *data,
                                         const struct bridge_pod_file *files,
                                         size_t n, const shim_error *err);

/* Copies what it needs of binds.  done is called once, on the loop, unless
   cancelled first.  */
void pod_file_reader_start (uv_loop_t *loop, const struct pod_file_bind *binds,
                            size_t n, pod_file_reader_done_fn done, void *data,
                            struct pod_file_reader **out);
/* No call of done after this; the reader frees itself when its thread is
   done.  */
void pod_file_reader_cancel (struct pod_file_reader *r);

#endif
