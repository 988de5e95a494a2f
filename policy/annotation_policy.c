#include "annotation_policy.h"

#include <string.h>

const char *const annotation_policy_allowed_keys[] = {
  "io.microsoft.virtualmachine.lcow.bootfilesrootpath",
  "io.microsoft.virtualmachine.bootfilesrootpath",
  "io.microsoft.virtualmachine.lcow.kerneldirectboot",
  "io.microsoft.virtualmachine.computetopology.memory.allowovercommit",
  "io.microsoft.virtualmachine.computetopology.processor.count",
  "io.microsoft.virtualmachine.computetopology.processor.limit",
  "io.microsoft.virtualmachine.computetopology.processor.weight",
  "io.microsoft.virtualmachine.computetopology.memory.sizeinmb",
  "io.microsoft.virtualmachine.computetopology.memory.lowmmiogapinmb",
  "io.microsoft.virtualmachine.computetopology.memory.highmmiobaseinmb",
  "io.microsoft.virtualmachine.computetopology.memory.highmmiogapinmb",
  "io.microsoft.virtualmachine.storageqos.bandwidthmaximum",
  "io.microsoft.virtualmachine.storageqos.iopsmaximum",
  "io.microsoft.virtualmachine.lcow.network.policybasedrouting",
};
const size_t annotation_policy_allowed_count
    = sizeof annotation_policy_allowed_keys
      / sizeof annotation_policy_allowed_keys[0];

static const struct
{
  const char *key;
  const char *value;
} locked_keys[] = {
  { "io.microsoft.virtualmachine.lcow.preferredrootfstype", "vhd" },
  { "io.microsoft.virtualmachine.lcow.vpcienabled", "false" },
  { "io.microsoft.virtualmachine.devices.virtualpmem.maximumcount", "0" },
  { "io.microsoft.virtualmachine.lcow.writable-overlay-directories", "false" },
};

static int
has_prefix (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

const char *
annotation_policy_locked_value (const char *key)
{
  for (size_t i = 0; i < sizeof locked_keys / sizeof locked_keys[0]; i++)
    if (strcmp (key, locked_keys[i].key) == 0)
      return locked_keys[i].value;
  return NULL;
}

enum annotation_verdict
annotation_policy_classify (const char *key, const char *value)
{
  if (!has_prefix (key, ANNOTATION_VM_PREFIX))
    return ANNOTATION_IGNORED;
  if (has_prefix (key, ANNOTATION_HVSOCKET_PREFIX))
    return ANNOTATION_HVSOCKET;
  for (size_t i = 0; i < annotation_policy_allowed_count; i++)
    if (strcmp (key, annotation_policy_allowed_keys[i]) == 0)
      return ANNOTATION_ALLOWED;
  const char *required = annotation_policy_locked_value (key);
  if (required != NULL)
    return strcmp (value, required) == 0 ? ANNOTATION_LOCKED_OK
                                         : ANNOTATION_LOCKED_BAD;
  return ANNOTATION_DENIED;
}

void
annotation_policy_check (const struct oci_spec *spec,
                         struct policy_problems *problems)
{
  for (size_t i = 0; i < spec->nannotations; i++)
    {
      const char *k = spec->annotations[i].key;
      const char *v = spec->annotations[i].value;
      switch (annotation_policy_classify (k, v))
        {
        case ANNOTATION_IGNORED:
        case ANNOTATION_ALLOWED:
        case ANNOTATION_LOCKED_OK:
          break;
        case ANNOTATION_LOCKED_BAD:
          policy_problem_add (
              problems, "annotation %s must be \"%s\" (locked), got \"%s\"", k,
              annotation_policy_locked_value (k), v);
          break;
        case ANNOTATION_HVSOCKET:
          policy_problem_add (problems,
                              "annotation %s is an HvSocket service-table "
                              "entry, never allowed",
                              k);
          break;
        case ANNOTATION_DENIED:
          policy_problem_add (problems, "annotation %s is not allowed", k);
          break;
        }
    }
}
