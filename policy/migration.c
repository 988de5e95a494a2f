#include "migration.h"

#include <stdlib.h>
#include <string.h>

#include "proto/base/go_parse.h"
#include "proto/base/strbuf.h"

static bool
effective (const char *key, const char *value, strbuf *warnings)
{
  bool b = false;
  if (value != NULL && go_parse_bool (value, &b) < 0)
    {
      strbuf_printf (warnings, "%s%s=\"%s\" is not a boolean, taken as false",
                     warnings->len ? "; " : "", key, value);
      b = false;
    }
  return b;
}

int
migration_resolve (const struct oci_spec *spec, struct migration_decision *out,
                   shim_error **err)
{
  const char *allowed
      = oci_spec_annotation (spec, ANNOTATION_MIGRATION_ALLOWED);
  const char *enabled
      = oci_spec_annotation (spec, ANNOTATION_MIGRATION_SUPPORT_ENABLED);
  strbuf warnings = STRBUF_INIT;
  bool a = effective (ANNOTATION_MIGRATION_ALLOWED, allowed, &warnings);
  bool e
      = effective (ANNOTATION_MIGRATION_SUPPORT_ENABLED, enabled, &warnings);
  if (allowed != NULL && enabled != NULL && a != e)
    {
      strbuf_release (&warnings);
      return shim_error_set (
          err, GRPC_INVALID_ARGUMENT,
          "conflicting live-migration annotations: %s=\"%s\" means %s but "
          "%s=\"%s\" means %s",
          ANNOTATION_MIGRATION_ALLOWED, allowed, a ? "true" : "false",
          ANNOTATION_MIGRATION_SUPPORT_ENABLED, enabled, e ? "true" : "false");
    }
  out->migratable = allowed != NULL ? a : e;
  out->warning = warnings.len ? strbuf_detach (&warnings) : NULL;
  strbuf_release (&warnings);
  return 0;
}

void
migration_decision_release (struct migration_decision *d)
{
  free (d->warning);
  d->warning = NULL;
}

int
migration_incoming (const struct oci_spec *spec, bool *incoming,
                    shim_error **err)
{
  const char *v = oci_spec_annotation (spec, ANNOTATION_MIGRATION_INCOMING);
  *incoming = v != NULL && strcmp (v, "true") == 0;
  if (v == NULL || *incoming || strcmp (v, "false") == 0)
    return 0;
  return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                         "annotation %s=\"%s\": expected \"true\" or "
                         "\"false\"",
                         ANNOTATION_MIGRATION_INCOMING, v);
}
