#include "rootfs_layers.h"

#include <stdlib.h>
#include <string.h>

#include "proto/base/xalloc.h"

static void
add_layer (struct rootfs_plan *p, const char *dir, size_t len, bool cached,
           bool skip_if_empty)
{
  p->layers = xrealloc (p->layers, (p->nlayers + 1) * sizeof *p->layers);
  p->layers[p->nlayers++] = (struct rootfs_layer){
    .dir = xstrndup (dir, len),
    .cached = cached,
    .skip_if_empty = skip_if_empty,
  };
}

static int
plan_overlay (const struct rootfs_mount *m, struct rootfs_plan *p,
              shim_error **err)
{
  const char *lower = NULL, *upper = NULL;
  for (size_t i = 0; i < m->noptions; i++)
    if (strncmp (m->options[i], "lowerdir=", 9) == 0)
      lower = m->options[i] + 9;
    else if (strncmp (m->options[i], "upperdir=", 9) == 0)
      upper = m->options[i] + 9;
  if (lower == NULL || *lower == '\0')
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "rootfs: an overlay mount without lowerdir");
  if (upper != NULL)
    add_layer (p, upper, strlen (upper), false, true);
  for (const char *s = lower;;)
    {
      const char *end = strchr (s, ':');
      size_t len = end ? (size_t) (end - s) : strlen (s);
      add_layer (p, s, len, true, false);
      if (end == NULL)
        break;
      s = end + 1;
    }
  for (size_t i = 0; i < p->nlayers; i++)
    if (p->layers[i].dir[0] != '/')
      return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                             "rootfs: overlay layer \"%s\" is not an "
                             "absolute path",
                             p->layers[i].dir);
  return 0;
}

int
rootfs_layers_plan (const struct rootfs_mount *mounts, size_t nmounts,
                    const char *rootfs_dir, struct rootfs_plan *out,
                    shim_error **err)
{
  *out = (struct rootfs_plan){ 0 };
  int r = 0;
  if (nmounts == 0)
    add_layer (out, rootfs_dir, strlen (rootfs_dir), false, false);
  else if (nmounts == 1 && strcmp (mounts[0].type, "overlay") == 0)
    r = plan_overlay (&mounts[0], out, err);
  else if (nmounts == 1 && strcmp (mounts[0].type, "bind") == 0
           && mounts[0].source[0] == '/')
    add_layer (out, mounts[0].source, strlen (mounts[0].source), false, false);
  else
    {
      out->mount_first = true;
      add_layer (out, rootfs_dir, strlen (rootfs_dir), false, false);
    }
  if (r == 0 && out->nlayers > ROOTFS_LAYERS_MAX)
    r = shim_error_set (err, GRPC_INVALID_ARGUMENT,
                        "rootfs: %zu layers, more than the %d a container "
                        "may have",
                        out->nlayers, ROOTFS_LAYERS_MAX);
  if (r < 0)
    rootfs_plan_release (out);
  return r;
}

void
rootfs_plan_release (struct rootfs_plan *p)
{
  for (size_t i = 0; i < p->nlayers; i++)
    free (p->layers[i].dir);
  free (p->layers);
  *p = (struct rootfs_plan){ 0 };
}
