/* See sysctl.h.  */
#include "sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
    if (*p == '/' || (unsigned char) *p < 0x21 || *p == 0x7f)
      return false;
  return true;
}

int
sysctl_check (const struct oci_spec *s, strbuf *bad)
{
  size_t nbad = 0;
  for (size_t i = 0; i < s->nsysctls; i++)
    {
      const char *key = s->sysctls[i].key;
      const char *why = !well_formed (key) ? "not a sysctl name"
                        : strcmp (key, "kernel.hostname") == 0
                            ? "set the spec's hostname instead"
                        : !namespaced (key)
                            ? "not scoped by the container's namespaces: "
                              "it would change the whole UVM"
                            : NULL;
      if (why != NULL)
        strbuf_printf (bad, "%s%s (%s)", nbad++ ? ", " : "", key, why);
    }
  return nbad ? -1 : 0;
}

int
sysctl_apply (const struct oci_spec *s, const char **failed)
{
  for (size_t i = 0; i < s->nsysctls; i++)
    {
      char path[512];
      int n = snprintf (path, sizeof path, "/proc/sys/%s", s->sysctls[i].key);
      for (char *p = path + 10; n > 0 && (size_t) n < sizeof path && *p; p++)
        if (*p == '.')
          *p = '/';
      *failed = s->sysctls[i].key;
      if (n < 0 || (size_t) n >= sizeof path)
        {
          errno = ENAMETOOLONG;
          return -1;
        }
      int fd = open (path, O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        return -1;
      size_t len = strlen (s->sysctls[i].value);
      ssize_t w = write (fd, s->sysctls[i].value, len);
      int saved = errno;
      close (fd);
      if (w != (ssize_t) len)
        {
          errno = w < 0 ? saved : EIO;
          return -1;
        }
    }
  *failed = NULL;
  return 0;
}
