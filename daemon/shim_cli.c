#include "shim_cli.h"

#include <stdio.h>
#include <string.h>

static bool
flag_is (const char *name, size_t nlen, const char *flag)
{
  return strlen (flag) == nlen && strncmp (name, flag, nlen) == 0;
}

static const char *const string_flags[] = {
  "namespace", "id",     "address",      "publish-binary",
  "bundle",    "socket", "debug-socket",
};

int
shim_flags_parse (int argc, char **argv, struct shim_flags *f)
{
  memset (f, 0, sizeof *f);
  f->ns = "default";
  int i = 1;
  for (; i < argc; i++)
    {
      const char *a = argv[i];
      if (a[0] != '-' || a[1] == '\0')
        break;
      if (strcmp (a, "--") == 0)
        {
          i++;
          break;
        }
      const char *name = a[1] == '-' ? a + 2 : a + 1;
      const char *eq = strchr (name, '=');
      size_t nlen = eq ? (size_t) (eq - name) : strlen (name);
      if (flag_is (name, nlen, "debug") || flag_is (name, nlen, "v"))
        {
          bool value = eq == NULL || strcmp (eq + 1, "true") == 0
                       || strcmp (eq + 1, "1") == 0;
          if (name[0] == 'v')
            f->version = value;
          else
            f->debug = value;
          continue;
        }
      const char *value = NULL;
      bool known = false;
      for (size_t k = 0; k < sizeof string_flags / sizeof string_flags[0]; k++)
        if (flag_is (name, nlen, string_flags[k]))
          known = true;
      if (!known)
        continue;
      if (eq != NULL)
        value = eq + 1;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        {
          fprintf (stderr, "flag needs an argument: -%.*s\n", (int) nlen,
                   name);
          return -1;
        }
      if (flag_is (name, nlen, "namespace"))
        f->ns = value;
      else if (flag_is (name, nlen, "id"))
        f->id = value;
      else if (flag_is (name, nlen, "address"))
        f->address = value;
      else if (flag_is (name, nlen, "publish-binary"))
        f->publish_binary = value;
      else if (flag_is (name, nlen, "bundle"))
        f->bundle = value;
      else if (flag_is (name, nlen, "socket"))
        f->socket = value;
    }
  if (i < argc)
    {
      f->action = argv[i];
      f->action_index = i;
    }
  return 0;
}
