/* See sysctl_policy.h.  */
#include "sysctl_policy.h"

#include <stdbool.h>
#include <string.h>

static bool
namespaced (const char *key)
{
  static const char *const exact[]
      = { "kernel.msgmax", "kernel.msgmnb",          "kernel.msgmni",
          "kernel.sem",    "kernel.shmall",          "kernel.shmmax",
          "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.domainname" };
  for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
    if (strcmp (key, exact[i]) == 0)
      return true;
  return strncmp (key, "fs.mqueue.", 10) == 0 || strncmp (key, "net.", 4) == 0;
}

/* A name of dotted parts, none empty: nothing that walks out of
   /proc/sys.  */
static bool
well_formed (const char *key)
{
  if (*key == '\0' || strstr (key, "..") != NULL || key[0] == '.'
      || key[strlen (key) - 1] == '.')
    return false;
  for (const char *p = key; *p; p++)
    if (*p == '/' || *p == '=' || (unsigned char) *p < 0x21 || *p == 0x7f)
      return false;
  return true;
}

int
sysctl_policy_check (const struct oci_key_value *sysctls, size_t n,
                     strbuf *bad)
{
  size_t nbad = 0;
  for (size_t i = 0; i < n; i++)
    {
      const char *key = sysctls[i].key;
      const char *why = !well_formed (key) ? "not a sysctl name"
                        : strcmp (key, "kernel.hostname") == 0
                            ? "set the spec's hostname instead"
                        : !namespaced (key)
                            ? "not scoped by the pod's or the container's "
                              "namespaces: it would change the whole UVM"
                            : NULL;
      if (why != NULL)
        strbuf_printf (bad, "%s%s (%s)", nbad++ ? ", " : "", key, why);
    }
  return nbad ? -1 : 0;
}
