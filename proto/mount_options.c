#include "mount_options.h"

#include <string.h>
#include <sys/mount.h>

static const struct
{
  const char *name;
  unsigned long set, clear;
} mount_flags[] = {
  { "ro", MS_RDONLY, 0 },
  { "rw", 0, MS_RDONLY },
  { "nosuid", MS_NOSUID, 0 },
  { "suid", 0, MS_NOSUID },
  { "nodev", MS_NODEV, 0 },
  { "dev", 0, MS_NODEV },
  { "noexec", MS_NOEXEC, 0 },
  { "exec", 0, MS_NOEXEC },
  { "sync", MS_SYNCHRONOUS, 0 },
  { "async", 0, MS_SYNCHRONOUS },
  { "dirsync", MS_DIRSYNC, 0 },
  { "noatime", MS_NOATIME, 0 },
  { "nodiratime", MS_NODIRATIME, 0 },
  { "relatime", MS_RELATIME, 0 },
  { "strictatime", MS_STRICTATIME, 0 },
  { "bind", MS_BIND, 0 },
  { "rbind", MS_BIND | MS_REC, 0 },
  { "private", 0, 0 },
  { "rprivate", 0, 0 },
  { "shared", 0, 0 },
  { "rshared", 0, 0 },
  { "slave", 0, 0 },
  { "rslave", 0, 0 },
};

unsigned long
mount_options_parse (char *const *options, size_t n, strbuf *data)
{
  unsigned long flags = 0;
  for (size_t i = 0; i < n; i++)
    {
      size_t k = 0;
      while (k < sizeof mount_flags / sizeof mount_flags[0]
             && strcmp (mount_flags[k].name, options[i]) != 0)
        k++;
      if (k < sizeof mount_flags / sizeof mount_flags[0])
        flags = (flags | mount_flags[k].set) & ~mount_flags[k].clear;
      else
        {
          strbuf_puts (data, data->len ? "," : "");
          strbuf_puts (data, options[i]);
        }
    }
  return flags;
}

void
mount_options_bind (char *const *options, size_t n, struct bind_options *out)
{
  strbuf data = STRBUF_INIT;
  unsigned long flags = mount_options_parse (options, n, &data);
  strbuf_release (&data);
  *out = (struct bind_options){ .readonly = (flags & MS_RDONLY) != 0,
                                .recursive = (flags & MS_REC) != 0 };
  for (size_t i = 0; i < n; i++)
    {
      const char *o = options[i] + (options[i][0] == 'r');
      if (strcmp (o, "private") == 0)
        out->propagation = MOUNT_PROPAGATION_PRIVATE;
      else if (strcmp (o, "slave") == 0)
        out->propagation = MOUNT_PROPAGATION_SLAVE;
      else if (strcmp (o, "shared") == 0)
        out->propagation = MOUNT_PROPAGATION_SHARED;
    }
}

const char *
mount_propagation_name (enum mount_propagation p)
{
  static const char *const names[] = { "rprivate", "rslave", "rshared" };
  return names[p];
}
