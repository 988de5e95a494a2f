#include "layer_set.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uvm/bridge/bridge.h"
#include "uvm/storage/layer_cache.h"
#include "uvm/storage/layer_conversion.h"
#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/list.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm.h"

#define DISK_REMOVE_TIMEOUT_MS 10000
/* "sha256:" and 64 hex digits.  */
#define LAYER_DIGEST_LEN 71

enum entry_state
{
  ENTRY_CONVERTING,
  ENTRY_ATTACHING,
  ENTRY_READY,
  ENTRY_REMOVING, /* the guest lets go of it, then QEMU */
};

struct layer_entry
{
  struct list link;
  struct layer_set *set;
  char key[LAYER_KEY_LEN + 1]; /* LAYER_SNAPSHOT only */
  char *dir;
  char *image;
  enum layer_source source;
  enum entry_state state;
  int lock_fd; /* a shared flock on a cached image while we use it */
  uint32_t target;
  bool has_target;
  /* The target to attach at (a migration's destination), or 0.  */
  uint32_t want_target;
  char digest[LAYER_DIGEST_LEN + 1];
  struct list uses;
  struct layer_conversion *conv;
  /* Uses are being answered: a release leaves the entry alone.  */
  int busy;
};

struct layer_use
{
  struct list link;
  struct layer_entry *entry; /* NULL once answered with an error */
  layer_ready_fn done;
  void *data;
  bool answered;
  bool has_expectation;
  uint32_t expect_target;
  char expect_digest[LAYER_DIGEST_LEN + 1];
};

struct layer_set
{
  uv_loop_t *loop;
  char *helper;
  char *cache_dir;
  char *scratch_dir;
  uint64_t cache_max_mb;
  bool portable;
  struct uvm *uvm;
  struct list entries;
  unsigned next_uncached;
};

struct layer_set *
layer_set_new (const struct layer_set_config *cfg, struct uvm *u)
{
  struct layer_set *s = xzalloc (sizeof *s);
  s->loop = cfg->loop;
  s->helper = xstrdup (cfg->helper_exe);
  s->cache_dir = xstrdup (cfg->cache_dir);
  s->scratch_dir = xstrdup (cfg->scratch_dir);
  s->cache_max_mb = cfg->cache_max_mb;
  s->portable = cfg->portable;
  s->uvm = u;
  list_init (&s->entries);
  return s;
}

static void
set_free (struct layer_set *s)
{
  remove_tree (s->scratch_dir);
  free (s->helper);
  free (s->cache_dir);
  free (s->scratch_dir);
  free (s);
}

static void
entry_free (struct layer_entry *e)
{
  layer_conversion_cancel (e->conv);
  if (e->lock_fd >= 0)
    close (e->lock_fd);
  if (e->source == LAYER_TREE && e->image != NULL)
    unlink (e->image);
  list_remove (&e->link);
  free (e->dir);
  free (e->image);
  free (e);
}

/* Answers every use with err and forgets the entry.  */
static void
entry_fail (struct layer_entry *e, const shim_error *err)
{
  size_t n = 0;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &e->uses) n++;
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  struct layer_use **uses = xzalloc ((n + 1) * sizeof *uses);
  n = 0;
  list_for_each_safe (pos, tmp, &e->uses)
  {
    struct layer_use *u = list_entry (pos, struct layer_use, link);
    list_remove (&u->link);
    u->entry = NULL;
    u->answered = true;
    uses[n++] = u;
  }
  if (e->has_target && e->set->uvm != NULL)
    uvm_release_scsi_target (e->set->uvm, e->target);
  log_entry (
      LOG_LEVEL_WARN, "layer unavailable",
      (struct log_field[]){ { "layer", e->dir }, { "error", err->msg } }, 2);
  entry_free (e);
  /* A callback may release any use: each is called from the copy.  */
  for (size_t i = 0; i < n; i++)
    uses[i]->done (uses[i]->data, 0, err);
  free (uses);
}

static void
on_disk_removed (void *data, const char *body, size_t len,
                 const shim_error *err)
{
  (void) body, (void) len;
  struct layer_entry *e = data;
  if (err != NULL)
    log_entry (
        LOG_LEVEL_WARN, "the guest did not let go of a layer disk",
        (struct log_field[]){ { "layer", e->dir }, { "error", err->msg } }, 2);
  if (e->set->uvm != NULL)
    uvm_release_scsi_target (e->set->uvm, e->target);
  entry_free (e);
}

/* Nobody uses e: the guest lets go of its disk, then QEMU.  */
static void
entry_remove (struct layer_entry *e)
{
  struct layer_set *s = e->set;
  if (!e->has_target || s->uvm == NULL)
    {
      entry_free (e);
      return;
    }
  cleanup_free char *body = bridge_disk_remove_body (e->target);
  shim_error *err = NULL;
  if (uvm_request (s->uvm, body, DISK_REMOVE_TIMEOUT_MS, on_disk_removed, e,
                   &err)
      == 0)
    {
      e->state = ENTRY_REMOVING;
      return;
    }
  shim_error_free (err);
  uvm_release_scsi_target (s->uvm, e->target);
  entry_free (e);
}

/* Answers u from a ready entry: its target, or why the image or target is
   not the one a migration's source had.  */
static void
answer_use (struct layer_entry *e, struct layer_use *u)
{
  u->answered = true;
  if (!u->has_expectation
      || (strcmp (u->expect_digest, e->digest) == 0
          && u->expect_target == e->target))
    {
      u->done (u->data, e->target, NULL);
      return;
    }
  shim_error err = {
    GRPC_FAILED_PRECONDITION,
    xasprintf ("layer %s: image %s at SCSI target %u here, the source had "
               "%s at %u",
               e->dir, e->digest, e->target, u->expect_digest,
               u->expect_target),
  };
  u->done (u->data, 0, &err);
  free (err.msg);
}

/* Answers every use not answered yet; a callback may release uses (its
   own or others').  */
static void
entry_notify (struct layer_entry *e)
{
  e->busy++;
  for (bool again = true; again;)
    {
      again = false;
      struct list *pos, *tmp;
      list_for_each_safe (pos, tmp, &e->uses)
      {
        struct layer_use *u = list_entry (pos, struct layer_use, link);
        if (u->answered)
          continue;
        answer_use (e, u);
        again = true;
        break;
      }
    }
  e->busy--;
  if (list_empty (&e->uses))
    entry_remove (e);
}

static void
on_attached (void *data, const shim_error *err)
{
  struct layer_entry *e = data;
  if (err != NULL)
    {
      entry_fail (e, err);
      return;
    }
  e->state = ENTRY_READY;
  char target[16];
  snprintf (target, sizeof target, "%u", e->target);
  log_entry (
      LOG_LEVEL_INFO, "layer disk attached",
      (struct log_field[]){ { "layer", e->dir }, { "scsi-target", target } },
      2);
  entry_notify (e);
}

static void
attach (struct layer_entry *e)
{
  struct layer_set *s = e->set;
  shim_error *err = NULL;
  e->target = e->want_target;
  if (s->uvm == NULL)
    shim_error_set (&err, GRPC_UNAVAILABLE, "the sandbox's VM is gone");
  else if (uvm_reserve_scsi_target (s->uvm, &e->target, &err) == 0)
    {
      e->has_target = true;
      e->state = ENTRY_ATTACHING;
      if (uvm_attach_disk (s->uvm, e->image, e->target, on_attached, e, &err)
          == 0)
        return;
    }
  entry_fail (e, err);
  shim_error_free (err);
}

static void
on_converted (void *data, int lock_fd, const char *digest,
              const shim_error *err)
{
  struct layer_entry *e = data;
  e->conv = NULL;
  if (err != NULL)
    {
      entry_fail (e, err);
      return;
    }
  e->lock_fd = lock_fd;
  snprintf (e->digest, sizeof e->digest, "%s", digest);
  attach (e);
}

static int
start_conversion (struct layer_entry *e, shim_error **err)
{
  struct layer_set *s = e->set;
  struct layer_conversion_request req = {
    .helper_exe = s->helper,
    .dir = e->dir,
    .image = e->image,
    .key = e->source == LAYER_SNAPSHOT ? e->key : NULL,
    .cache_dir = s->cache_dir,
    .cache_max_mb = s->cache_max_mb,
  };
  if (layer_conversion_start (s->loop, &req, on_converted, e, &e->conv, err)
      < 0)
    return -1;
  e->state = ENTRY_CONVERTING;
  return 0;
}

/* The entry of a shared layer (a snapshot by its key, an image by its
   path) that can still take users.  */
static struct layer_entry *
find_entry (struct layer_set *s, enum layer_source source, const char *key,
            const char *path)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &s->entries)
  {
    struct layer_entry *e = list_entry (pos, struct layer_entry, link);
    if (e->source == source && e->state != ENTRY_REMOVING
        && (source == LAYER_SNAPSHOT ? strcmp (e->key, key) == 0
                                     : strcmp (e->dir, path) == 0))
      return e;
  }
  return NULL;
}

/* -1 when path is not a directory; with key, the key it has as a
   committed snapshot (layer_cache.h).  */
static int
check_layer_dir (const char *path, char *key, shim_error **err)
{
  struct statx stx;
  if (statx (AT_FDCWD, path, 0, STATX_TYPE | STATX_INO | STATX_BTIME, &stx)
      < 0)
    return shim_error_errno (err, GRPC_INVALID_ARGUMENT, errno,
                             "rootfs layer %s", path);
  if (!S_ISDIR (stx.stx_mode))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "rootfs layer %s: not a directory", path);
  if (key == NULL)
    return 0;
  /* Without a birth time, the change time stands in (a committed
     snapshot's root never changes).  */
  struct statx_timestamp born
      = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime : stx.stx_ctime;
  layer_cache_key (path, makedev (stx.stx_dev_major, stx.stx_dev_minor),
                   stx.stx_ino,
                   (int64_t) born.tv_sec * 1000000000 + born.tv_nsec, key);
  return 0;
}

static struct layer_entry *
entry_new (struct layer_set *s, const char *path, enum layer_source source,
           const char *key, const struct layer_expectation *expect)
{
  struct layer_entry *e = xzalloc (sizeof *e);
  e->set = s;
  e->lock_fd = -1;
  e->source = source;
  e->dir = xstrdup (path);
  snprintf (e->key, sizeof e->key, "%s", key);
  e->want_target = expect ? expect->target : 0;
  list_init (&e->uses);
  switch (source)
    {
    case LAYER_SNAPSHOT:
      e->image = xasprintf ("%s/%s.erofs", s->cache_dir, key);
      break;
    case LAYER_TREE:
      e->image = xasprintf ("%s/%u.erofs", s->scratch_dir, ++s->next_uncached);
      break;
    case LAYER_IMAGE:
      e->image = xstrdup (path);
      break;
    }
  list_add_tail (&s->entries, &e->link);
  return e;
}

bool
layer_set_portable (const struct layer_set *s)
{
  return s->portable;
}

struct layer_use *
layer_set_acquire (struct layer_set *s, const char *path,
                   enum layer_source source,
                   const struct layer_expectation *expect, layer_ready_fn done,
                   void *data, shim_error **err)
{
  char key[LAYER_KEY_LEN + 1] = "";
  if (source == LAYER_IMAGE && s->portable)
    {
      shim_error_set (err, GRPC_FAILED_PRECONDITION,
                      "rootfs layer %s: an image containerd made is this "
                      "host's own (its UUID, its build time), and a "
                      "live-migratable sandbox's destination must have the "
                      "same bytes: use a snapshotter that gives directories "
                      "(overlayfs)",
                      path);
      return NULL;
    }
  if (source != LAYER_IMAGE
      && check_layer_dir (path, source == LAYER_SNAPSHOT ? key : NULL, err)
             < 0)
    return NULL;
  struct layer_entry *e
      = source != LAYER_TREE ? find_entry (s, source, key, path) : NULL;
  bool attach_now = false;
  if (e == NULL)
    {
      e = entry_new (s, path, source, key, expect);
      if (source == LAYER_IMAGE)
        {
          log_entry (LOG_LEVEL_INFO, "layer image taken as containerd made it",
                     (struct log_field[]){ { "layer", path } }, 1);
          attach_now = true;
        }
      else if (start_conversion (e, err) < 0)
        {
          entry_free (e);
          return NULL;
        }
    }
  struct layer_use *u = xzalloc (sizeof *u);
  u->entry = e;
  u->done = done;
  u->data = data;
  if (expect != NULL)
    {
      u->has_expectation = true;
      u->expect_target = expect->target;
      snprintf (u->expect_digest, sizeof u->expect_digest, "%s",
                expect->digest);
    }
  list_add_tail (&e->uses, &u->link);
  if (attach_now)
    attach (e); /* a failure answers u now */
  else if (e->state == ENTRY_READY)
    /* Answered now, from the caller's own call.  */
    answer_use (e, u);
  return u;
}

const char *
layer_use_digest (const struct layer_use *u)
{
  return u->entry != NULL ? u->entry->digest : "";
}

void
layer_set_release (struct layer_use *u)
{
  struct layer_entry *e = u->entry;
  list_remove (&u->link);
  free (u);
  if (e == NULL || !list_empty (&e->uses) || e->busy)
    return;
  switch (e->state)
    {
    case ENTRY_CONVERTING:
      entry_free (e);
      break;
    case ENTRY_ATTACHING:
      break; /* on_attached sees nobody waits */
    case ENTRY_READY:
      entry_remove (e);
      break;
    case ENTRY_REMOVING:
      break;
    }
}

void
layer_set_forget_vm (struct layer_set *s)
{
  s->uvm = NULL;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &s->entries)
  {
    struct layer_entry *e = list_entry (pos, struct layer_entry, link);
    e->has_target = false;
    /* Their replies never come once the VM is destroyed.  */
    if (e->state == ENTRY_REMOVING
        || (e->state == ENTRY_ATTACHING && list_empty (&e->uses)))
      entry_free (e);
  }
}

void
layer_set_close (struct layer_set *s)
{
  if (s == NULL)
    return;
  s->uvm = NULL;
  while (!list_empty (&s->entries))
    {
      struct layer_entry *e
          = list_entry (s->entries.next, struct layer_entry, link);
      while (!list_empty (&e->uses))
        {
          struct layer_use *u
              = list_entry (e->uses.next, struct layer_use, link);
          list_remove (&u->link);
          u->entry = NULL;
        }
      entry_free (e);
    }
  set_free (s);
}
