#include "layer_conversion.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer_convert.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/helper/helper_run.h"

#define CONVERT_ATTEMPTS 3

struct layer_conversion
{
  struct helper_run *run; /* the run under way */
  uv_loop_t *loop;
  char *helper, *dir, *image, *key, *cache_dir;
  uint64_t cache_max_mb;
  int attempts;
  layer_conversion_fn done;
  void *data;
};

static void
conversion_free (struct layer_conversion *c)
{
  free (c->helper);
  free (c->dir);
  free (c->image);
  free (c->key);
  free (c->cache_dir);
  free (c);
}

/* A cached image is ours once we hold a shared lock on the file still in
   the cache (an eviction holds an exclusive one while it unlinks).  */
static int
lock_cached_image (const char *image)
{
  int fd = open (image, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && flock (fd, LOCK_SH | LOCK_NB) == 0 && fstat (fd, &st) == 0
      && st.st_nlink > 0)
    return fd;
  if (fd >= 0)
    close (fd);
  return -1;
}

/* The helper's answer, logged.  */
static void
log_answer (const struct layer_conversion *c, const json_value *answer)
{
  const char *outcome = json_get_string (answer, "outcome");
  bool converted = outcome != NULL && strcmp (outcome, "converted") == 0;
  char bytes[24], ms[24];
  snprintf (bytes, sizeof bytes, "%llu",
            (unsigned long long) json_get_u64 (answer, "bytes"));
  snprintf (ms, sizeof ms, "%llu",
            (unsigned long long) json_get_u64 (answer, "ms"));
  const char *digest = json_get_string (answer, "digest");
  log_entry (LOG_LEVEL_INFO,
             converted ? "layer converted" : "layer found in the host's cache",
             (struct log_field[]){ { "layer", c->dir },
                                   { "key", c->key ? c->key : "-" },
                                   { "bytes", bytes },
                                   { "ms", ms },
                                   { "digest", digest ? digest : "" } },
             5);
  const json_value *evicted = json_get (answer, "evicted");
  for (size_t i = 0;
       evicted != NULL && evicted->type == JSON_ARRAY && i < evicted->count;
       i++)
    {
      const char *key = json_get_string (evicted->items[i], "key");
      log_entry (LOG_LEVEL_INFO, "layer image evicted from the host's cache",
                 (struct log_field[]){ { "key", key ? key : "?" } }, 1);
    }
}

static int spawn_helper (struct layer_conversion *c, shim_error **err);

static void
on_answer (void *data, const json_value *answer, const shim_error *failed)
{
  struct layer_conversion *c = data;
  c->run = NULL;
  shim_error *err = NULL;
  int lock_fd = -1;
  const char *digest = NULL;
  if (failed != NULL)
    shim_error_set (&err, failed->code, "convert layer %s: %s", c->dir,
                    failed->msg);
  else
    {
      log_answer (c, answer);
      digest = json_get_string (answer, "digest");
      if (digest == NULL || strncmp (digest, "sha256:", 7) != 0)
        shim_error_set (&err, GRPC_INTERNAL,
                        "convert layer %s: the helper named no image digest",
                        c->dir);
    }
  if (err == NULL && c->key != NULL
      && (lock_fd = lock_cached_image (c->image)) < 0)
    {
      if (c->attempts < CONVERT_ATTEMPTS && spawn_helper (c, &err) == 0)
        return;
      if (err == NULL)
        shim_error_set (&err, GRPC_UNAVAILABLE,
                        "layer %s: its cached image was evicted %d times "
                        "while it was being converted",
                        c->dir, CONVERT_ATTEMPTS);
    }
  c->done (c->data, lock_fd, digest, err);
  shim_error_free (err);
  conversion_free (c);
}

/* Runs the helper once more for c.  */
static int
spawn_helper (struct layer_conversion *c, shim_error **err)
{
  char max_mb[24];
  snprintf (max_mb, sizeof max_mb, "%llu",
            (unsigned long long) c->cache_max_mb);
  char *const cached_args[] = { c->helper,
                                (char *) LAYER_CONVERT_COMMAND,
                                (char *) "--cache",
                                c->cache_dir,
                                (char *) "--max-mb",
                                max_mb,
                                (char *) "--key",
                                c->key,
                                c->dir,
                                NULL };
  char *const uncached_args[]
      = { c->helper,        (char *) LAYER_CONVERT_COMMAND,
          (char *) "--out", c->image,
          c->dir,           NULL };
  if (helper_run_start (c->loop, c->key ? cached_args : uncached_args,
                        on_answer, c, &c->run, err)
      < 0)
    return -1;
  c->attempts++;
  return 0;
}

int
layer_conversion_start (uv_loop_t *loop,
                        const struct layer_conversion_request *req,
                        layer_conversion_fn done, void *data,
                        struct layer_conversion **out, shim_error **err)
{
  struct layer_conversion *c = xzalloc (sizeof *c);
  c->loop = loop;
  c->helper = xstrdup (req->helper_exe);
  c->dir = xstrdup (req->dir);
  c->image = xstrdup (req->image);
  c->key = req->key ? xstrdup (req->key) : NULL;
  c->cache_dir = xstrdup (req->cache_dir);
  c->cache_max_mb = req->cache_max_mb;
  c->done = done;
  c->data = data;
  if (spawn_helper (c, err) < 0)
    {
      conversion_free (c);
      return -1;
    }
  *out = c;
  return 0;
}

void
layer_conversion_cancel (struct layer_conversion *c)
{
  if (c == NULL)
    return;
  helper_run_kill (c->run);
  conversion_free (c);
}
