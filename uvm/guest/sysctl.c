/* See sysctl.h.  */
#include "sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
sysctl_apply (const struct oci_key_value *sysctls, size_t n,
              const char **failed)
{
  for (size_t i = 0; i < n; i++)
    {
      char path[512];
      int len_path
          = snprintf (path, sizeof path, "/proc/sys/%s", sysctls[i].key);
      *failed = sysctls[i].key;
      if (len_path < 0 || (size_t) len_path >= sizeof path)
        {
          errno = ENAMETOOLONG;
          return -1;
        }
      for (char *p = path + 10; *p; p++)
        if (*p == '.')
          *p = '/';
      int fd = open (path, O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        return -1;
      size_t len = strlen (sysctls[i].value);
      ssize_t w = write (fd, sysctls[i].value, len);
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
