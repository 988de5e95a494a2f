/* OCI/fstab-style mount options split into mount(2) flags and the
   filesystem's own data string.  Pure; used by the shim (snapshot mounts)
   and the guest agent (container mounts).  */
#ifndef LCOW_MOUNT_OPTIONS_H
#define LCOW_MOUNT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

/* Where mount events beneath a bind travel (the last of private, slave,
   shared or their r- forms; private when none: runc's default).  */
enum mount_propagation
{
  MOUNT_PROPAGATION_PRIVATE,
  /* Host mounts made later beneath the source reach the bind, not back.  */
  MOUNT_PROPAGATION_SLAVE,
  /* Both ways: a VM cannot give it (a mount made in the guest is not a
     host mount).  */
  MOUNT_PROPAGATION_SHARED,
};

/* What a bind mount's options ask beyond its source.  */
struct bind_options
{
  bool readonly;
  /* rbind: the source's submounts too.  */
  bool recursive;
  enum mount_propagation propagation;
};

/* Returns the flags; every option that is not a flag is appended to data,
   comma-separated.  Propagation options (private, shared, slave and their
   r- forms) are accepted and ignored.  */
unsigned long mount_options_parse (char *const *options, size_t n,
                                   strbuf *data);
void mount_options_bind (char *const *options, size_t n,
                         struct bind_options *out);
/* "rprivate", "rslave", "rshared".  */
const char *mount_propagation_name (enum mount_propagation p);

#endif
