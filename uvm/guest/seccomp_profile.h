/* linux.seccomp in the guest: the spec's profile built by libseccomp into
   one BPF filter, as runc builds it: a syscall name the guest's libseccomp
   does not know is skipped, a rule whose action is the default one is
   skipped, several conditions on one argument make one rule each, the
   no_new_privs bit is left to process.noNewPrivileges.  An unknown action,
   operator, architecture or flag, and the notify action (no agent to
   answer it), are refused, each named.  */
#ifndef LCOW_UVM_GUEST_SECCOMP_PROFILE_H
#define LCOW_UVM_GUEST_SECCOMP_PROFILE_H

#include "proto/base/strbuf.h"
#include "proto/oci_spec.h"

/* Builds the filter without loading it: 0, or -1 with every refused item
   in *bad.  */
int seccomp_profile_check (const struct oci_seccomp *s, strbuf *bad);
/* Builds and loads it into the calling thread; 0, or -1 with errno.  */
int seccomp_profile_load (const struct oci_seccomp *s);

#endif
