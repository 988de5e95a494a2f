/* The live-migration opt-in: io.microsoft.migration.allowed, with the
   upstream name io.microsoft.migration.support-enabled as an alias.  */
#ifndef LCOW_POLICY_MIGRATION_H
#define LCOW_POLICY_MIGRATION_H

#include <stdbool.h>

#include "proto/base/error.h"
#include "proto/oci_spec.h"

#define ANNOTATION_MIGRATION_ALLOWED "io.microsoft.migration.allowed"
#define ANNOTATION_MIGRATION_SUPPORT_ENABLED                                  \
  "io.microsoft.migration.support-enabled"
/* This project's own: the sandbox task is a live migration's destination
   (its Create starts a VMM that waits for the source's VM; see
   daemon/migration_service.h).  Outside io.microsoft.virtualmachine.*, so
   the UVM-shape policy does not see it.  */
#define ANNOTATION_MIGRATION_INCOMING "io.containerd.lcow.migration.incoming"
/* A container created in such a sandbox with this annotation adopts the
   source's container of that id (daemon/guest_adoption.h).  */
#define ANNOTATION_MIGRATION_SOURCE_CONTAINER                                 \
  "io.containerd.lcow.migration.source-container"

struct migration_decision
{
  bool migratable;
  /* Unparsable values (they count as false), for the log; NULL if none.  */
  char *warning;
};

/* Decides from the annotations exactly as the request carries them.  Both
   keys present with different effective values is InvalidArgument.  */
int migration_resolve (const struct oci_spec *spec,
                       struct migration_decision *out, shim_error **err);
void migration_decision_release (struct migration_decision *d);
/* Whether the spec makes a migration destination: its annotation "true";
   absent or "false": not; any other value is InvalidArgument, named.  */
int migration_incoming (const struct oci_spec *spec, bool *incoming,
                        shim_error **err);

#endif
