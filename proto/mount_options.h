/* OCI/fstab-style mount options split into mount(2) flags and the
   filesystem's own data string.  Pure; used by the shim (snapshot mounts)
   and the guest agent (container mounts).  */
#ifndef LCOW_MOUNT_OPTIONS_H
#define LCOW_MOUNT_OPTIONS_H

#include <stddef.h>

#include "base/strbuf.h"

/* Returns the flags; every option that is not a flag is appended to data,
   comma-separated.  Propagation options (private, shared, slave and their
   r- forms) are accepted and ignored.  */
unsigned long mount_options_parse (char *const *options, size_t n,
                                   strbuf *data);

#endif
