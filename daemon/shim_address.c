#include "shim_address.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "proto/base/sha256.h"

char *
path_clean (const char *path)
{
  bool rooted = path[0] == '/';
  size_t n = strlen (path);
  /* Stack of kept components, as offsets into a copy.  */
  char *copy = xstrdup (path);
  char **parts = xzalloc ((n + 1) * sizeof *parts);
  size_t np = 0;
  for (char *save = NULL, *tok = strtok_r (copy, "/", &save); tok;
       tok = strtok_r (NULL, "/", &save))
    {
      if (strcmp (tok, ".") == 0)
        continue;
      if (strcmp (tok, "..") == 0)
        {
          if (np > 0 && strcmp (parts[np - 1], "..") != 0)
            np--;
          else if (!rooted)
            parts[np++] = tok;
          continue;
        }
      parts[np++] = tok;
    }
  strbuf sb = STRBUF_INIT;
  if (rooted)
    strbuf_putc (&sb, '/');
  for (size_t i = 0; i < np; i++)
    {
      if (i > 0)
        strbuf_putc (&sb, '/');
      strbuf_puts (&sb, parts[i]);
    }
  if (sb.len == 0)
    strbuf_putc (&sb, '.');
  free (parts);
  free (copy);
  return strbuf_detach (&sb);
}

const char *
shim_socket_dir (void)
{
  const char *dir = getenv (SHIM_SOCKET_DIR_ENV);
  return dir != NULL && dir[0] == '/' ? dir : SHIM_SOCKET_DIR_DEFAULT;
}

char *
shim_socket_address (const char *containerd_address, const char *ns,
                     const char *group_id)
{
  return shim_socket_address_in (shim_socket_dir (), containerd_address, ns,
                                 group_id);
}

char *
shim_socket_address_in (const char *socket_dir, const char *containerd_address,
                        const char *ns, const char *group_id)
{
  char *joined = xasprintf ("%s/%s/%s", containerd_address, ns, group_id);
  char *clean = path_clean (joined);
  char hex[2 * SHA256_DIGEST_LEN + 1];
  sha256_hex (clean, strlen (clean), hex);
  free (joined);
  free (clean);
  return xasprintf ("unix://%s/%s", socket_dir, hex);
}

const char *
shim_socket_path (const char *address)
{
  if (strncmp (address, "unix://", 7) == 0)
    return address + 7;
  return address;
}
