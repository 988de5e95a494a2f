/* Reading and writing the small files the shim exchanges with containerd and
   operators (config.json, address, uvm.json), with size caps and atomic
   replacement.  */
#ifndef LCOW_FILE_IO_H
#define LCOW_FILE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Reads a regular file of at most max bytes; *out is NUL-terminated.  With
   dirfd >= 0 the path is relative to it and the last component must not be
   a symlink.  */
int read_file_capped (int dirfd, const char *path, size_t max, char **out,
                      size_t *len, shim_error **err);
/* Writes path.tmp then renames it over path (mode 0644).  */
int write_file_atomic (const char *path, const void *data, size_t len,
                       shim_error **err);
/* openat2 of path beneath dirfd with the given RESOLVE_* flags, never
   waiting on a FIFO (O_NONBLOCK), no controlling terminal, close-on-exec;
   -1 with errno.  */
int open_beneath (int dirfd, const char *path, int flags, uint64_t resolve);
/* mkdir -p with the given mode for created components.  */
int mkdir_p (const char *path, unsigned mode, shim_error **err);
/* rm -rf of a directory tree; missing is fine.  */
int remove_tree (const char *path);
/* Pure: a relative path of plain components (none empty, "." or ".."), so
   that it stays below whatever it is joined to.  */
bool path_is_plain (const char *relative);

#endif
