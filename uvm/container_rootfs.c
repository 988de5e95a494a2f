#include "container_rootfs.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/cleanup.h"
#include "proto/base/xalloc.h"
#include "uvm/storage/erofs_snapshot.h"
#include "uvm/storage/snapshot_mount.h"

struct slot
{
  struct container_rootfs *r;
  size_t index;
  struct layer_use *use;
};

struct container_rootfs
{
  struct slot *slots;
  uint32_t *targets;
  size_t n, pending;
  char *mounted; /* the directory the snapshot is mounted on */
  bool claiming, answered;
  /* A layer refused while they were being claimed: prepare returns it.  */
  shim_error *claim_err;
  container_rootfs_fn ready;
  void *data;
};

static bool
dir_is_empty (const char *path)
{
  DIR *d = opendir (path);
  if (d == NULL)
    return false; /* a layer that cannot be read fails when claimed */
  struct dirent *de;
  bool empty = true;
  while (empty && (de = readdir (d)) != NULL)
    empty = strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0;
  closedir (d);
  return empty;
}

static void
on_layer (void *data, uint32_t target, const shim_error *err)
{
  struct slot *sl = data;
  struct container_rootfs *r = sl->r;
  if (r->answered)
    return;
  if (err != NULL && r->claiming)
    {
      if (r->claim_err == NULL)
        shim_error_set (&r->claim_err, err->code, "%s", err->msg);
      return;
    }
  if (err != NULL)
    {
      r->answered = true;
      r->ready (r->data, NULL, 0, err);
      return;
    }
  r->targets[sl->index] = target;
  if (--r->pending == 0 && !r->claiming)
    {
      r->answered = true;
      r->ready (r->data, r->targets, r->n, NULL);
    }
}

int
container_rootfs_prepare (struct layer_set *s,
                          const struct rootfs_mount *mounts, size_t nmounts,
                          const char *rootfs_dir,
                          const struct layer_expectation *expect,
                          size_t nexpect, container_rootfs_fn ready,
                          void *data, struct container_rootfs **out,
                          shim_error **err)
{
  struct rootfs_plan plan;
  if (rootfs_layers_plan (mounts, nmounts, rootfs_dir, &plan, err) < 0)
    return -1;
  struct container_rootfs *r = xzalloc (sizeof *r);
  r->ready = ready;
  r->data = data;
  r->slots = xzalloc ((plan.nlayers + 1) * sizeof *r->slots);
  r->targets = xzalloc ((plan.nlayers + 1) * sizeof *r->targets);
  if (plan.mount_first)
    {
      if (snapshot_mount (rootfs_dir, mounts, nmounts, err) < 0)
        goto fail;
      r->mounted = xstrdup (rootfs_dir);
    }
  r->claiming = true;
  for (size_t i = 0; i < plan.nlayers; i++)
    {
      const struct rootfs_layer *l = &plan.layers[i];
      if (l->skip_if_empty && dir_is_empty (l->dir))
        continue;
      if (expect != NULL && r->n == nexpect)
        {
          shim_error_set (err, GRPC_FAILED_PRECONDITION,
                          "the root filesystem has more layers than the "
                          "source container's %zu",
                          nexpect);
          goto fail;
        }
      struct slot *sl = &r->slots[r->n];
      *sl = (struct slot){ r, r->n, NULL };
      r->n++;
      r->pending++;
      /* containerd's EROFS snapshotter's image behind a lowerdir is taken
         as it is, except by a set that needs reproducible images.  */
      cleanup_free char *image
          = l->cached && !l->image && !layer_set_portable (s)
                ? erofs_snapshot_image (l->dir)
                : NULL;
      enum layer_source source = l->image || image ? LAYER_IMAGE
                                 : l->cached       ? LAYER_SNAPSHOT
                                                   : LAYER_TREE;
      sl->use = layer_set_acquire (s, image ? image : l->dir, source,
                                   expect ? &expect[sl->index] : NULL,
                                   on_layer, sl, err);
      if (sl->use == NULL)
        goto fail;
    }
  if (r->claim_err != NULL)
    {
      *err = r->claim_err;
      r->claim_err = NULL;
      goto fail;
    }
  if (expect != NULL && r->n != nexpect)
    {
      shim_error_set (err, GRPC_FAILED_PRECONDITION,
                      "the root filesystem has %zu layer(s), the source "
                      "container's had %zu",
                      r->n, nexpect);
      goto fail;
    }
  r->claiming = false;
  rootfs_plan_release (&plan);
  *out = r;
  if (r->pending == 0)
    {
      r->answered = true;
      r->ready (r->data, r->targets, r->n, NULL);
    }
  return 0;
fail:
  rootfs_plan_release (&plan);
  container_rootfs_release (r);
  return -1;
}

size_t
container_rootfs_layer_count (const struct container_rootfs *r)
{
  return r->n;
}

void
container_rootfs_layer (const struct container_rootfs *r, size_t i,
                        uint32_t *target, const char **digest)
{
  *target = r->targets[i];
  *digest = layer_use_digest (r->slots[i].use);
}

void
container_rootfs_release (struct container_rootfs *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++)
    if (r->slots[i].use != NULL)
      layer_set_release (r->slots[i].use);
  if (r->mounted != NULL)
    snapshot_unmount (r->mounted);
  free (r->mounted);
  free (r->slots);
  free (r->targets);
  free (r);
}
