#include "layer_conversion.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer_convert.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"

/* What the helper may print (evictions included) that is read.  */
#define CONVERT_OUTPUT_MAX (64u << 10)
#define CONVERT_ATTEMPTS 3

/* One run of the helper; frees itself when its handle is closed.  */
struct helper_run
{
  uv_process_t proc;
  int out_fd; /* its stdout: a memfd */
  struct layer_conversion *c;
};

struct layer_conversion
{
  struct helper_run *run; /* the run under way */
  uv_loop_t *loop;
  char *helper, *dir, *image, *key, *cache_dir;
  uint64_t cache_max_mb;
  int attempts;
  bool cancelled;
  layer_conversion_fn done;
  void *data;
};

static void
run_free (uv_handle_t *h)
{
  struct helper_run *run = h->data;
  if (run->out_fd >= 0)
    close (run->out_fd);
  free (run);
}

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

/* The helper's answer, logged; 0 if the image is there.  */
static int
read_answer (const struct layer_conversion *c, char *out, shim_error **err)
{
  int r = -1;
  for (char *save = NULL, *line = strtok_r (out, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    {
      char *arg = strchr (line, ' ');
      if (arg == NULL)
        continue;
      *arg++ = '\0';
      if (strcmp (line, "error") == 0)
        return shim_error_set (err, GRPC_INTERNAL, "convert layer %s: %s",
                               c->dir, arg);
      if (strcmp (line, "converted") == 0 || strcmp (line, "cached") == 0)
        {
          char bytes[24] = "", ms[24] = "";
          /* NOLINTNEXTLINE(cert-err34-c): two words, kept as text */
          sscanf (arg, "%23s %23s", bytes, ms);
          bool converted = strcmp (line, "converted") == 0;
          log_entry (LOG_LEVEL_INFO,
                     converted ? "layer converted"
                               : "layer found in the host's cache",
                     (struct log_field[]){ { "layer", c->dir },
                                           { "key", c->key ? c->key : "-" },
                                           { "bytes", bytes },
                                           { "ms", ms } },
                     converted ? 4 : 3);
          r = 0;
        }
      else if (strcmp (line, "digest") == 0)
        log_entry (LOG_LEVEL_INFO, "layer digest",
                   (struct log_field[]){ { "key", c->key ? c->key : "-" },
                                         { "digest", arg } },
                   2);
      else if (strcmp (line, "evicted") == 0)
        log_entry (LOG_LEVEL_INFO, "layer image evicted from the host's cache",
                   (struct log_field[]){ { "key", arg } }, 1);
    }
  if (r < 0)
    shim_error_set (err, GRPC_INTERNAL, "convert layer %s: no answer", c->dir);
  return r;
}

static int spawn_helper (struct layer_conversion *c, shim_error **err);

static void
on_helper_exit (uv_process_t *proc, int64_t status, int term_signal)
{
  struct helper_run *run = proc->data;
  struct layer_conversion *c = run->c;
  char *out = xzalloc (CONVERT_OUTPUT_MAX + 1);
  ssize_t n = pread (run->out_fd, out, CONVERT_OUTPUT_MAX, 0);
  out[n > 0 ? n : 0] = '\0';
  uv_close ((uv_handle_t *) proc, run_free);
  c->run = NULL;
  if (c->cancelled)
    {
      free (out);
      conversion_free (c);
      return;
    }
  shim_error *err = NULL;
  int lock_fd = -1;
  if (read_answer (c, out, &err) == 0 && (status != 0 || term_signal != 0))
    shim_error_set (&err, GRPC_INTERNAL,
                    "convert layer %s: the helper ended with status %lld, "
                    "signal %d",
                    c->dir, (long long) status, term_signal);
  free (out);
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
  c->done (c->data, lock_fd, err);
  shim_error_free (err);
  conversion_free (c);
}

/* Runs the helper once more for c.  */
static int
spawn_helper (struct layer_conversion *c, shim_error **err)
{
  int fd = memfd_create ("layer-convert", MFD_CLOEXEC);
  if (fd < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "memfd_create");
  char max_mb[24];
  snprintf (max_mb, sizeof max_mb, "%llu",
            (unsigned long long) c->cache_max_mb);
  char *cached_args[] = { c->helper,
                          (char *) LAYER_CONVERT_COMMAND,
                          (char *) "--cache",
                          c->cache_dir,
                          (char *) "--max-mb",
                          max_mb,
                          (char *) "--key",
                          c->key,
                          c->dir,
                          NULL };
  char *uncached_args[] = { c->helper,        (char *) LAYER_CONVERT_COMMAND,
                            (char *) "--out", c->image,
                            c->dir,           NULL };
  uv_stdio_container_t stdio[3] = { { UV_IGNORE, { 0 } },
                                    { UV_INHERIT_FD, { .fd = fd } },
                                    { UV_INHERIT_FD, { .fd = 2 } } };
  uv_process_options_t opts = {
    .exit_cb = on_helper_exit,
    .file = c->helper,
    .args = c->key ? cached_args : uncached_args,
    .stdio_count = 3,
    .stdio = stdio,
  };
  struct helper_run *run = xzalloc (sizeof *run);
  run->out_fd = fd;
  run->c = c;
  run->proc.data = run;
  int r = uv_spawn (c->loop, &run->proc, &opts);
  if (r < 0)
    {
      /* A failed spawn's handle still closes through the loop.  */
      uv_close ((uv_handle_t *) &run->proc, run_free);
      return shim_error_set (err, GRPC_INTERNAL, "spawn %s %s: %s", c->helper,
                             LAYER_CONVERT_COMMAND, uv_strerror (r));
    }
  c->run = run;
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
  c->cancelled = true;
  uv_process_kill (&c->run->proc, SIGKILL);
}
