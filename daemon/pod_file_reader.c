#include "pod_file_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

struct pod_file
{
  char *destination;
  char *root;
  char *relative;
  char *content;
  size_t len;
  char *error;
};

struct pod_file_reader
{
  uv_work_t work;
  struct pod_file *files;
  size_t n;
  pod_file_reader_done_fn done;
  void *data;
  bool cancelled;
};

/* Reads f on a pool thread: the result or the error goes into f.  */
static void
read_one (struct pod_file *f)
{
  int dir = open (f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    {
      f->error = xasprintf ("open %s: %s", f->root, strerror (errno));
      return;
    }
  struct open_how how = {
    .flags = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int) syscall (SYS_openat2, dir, f->relative, &how, sizeof how);
  int e = errno;
  close (dir);
  struct stat st;
  if (fd < 0)
    f->error = xstrdup (e == ELOOP ? "a symlink on the way (not followed)"
                                   : strerror (e));
  else if (fstat (fd, &st) < 0)
    f->error = xstrdup (strerror (errno));
  else if (!S_ISREG (st.st_mode))
    f->error = xstrdup ("not a regular file");
  else if (st.st_size > (off_t) POD_FILE_MAX)
    f->error = xasprintf ("%lld bytes, more than the %u allowed",
                          (long long) st.st_size, POD_FILE_MAX);
  else
    {
      f->content = xmalloc (POD_FILE_MAX + 1);
      ssize_t r;
      while (
          f->len < POD_FILE_MAX
          && ((r = read (fd, f->content + f->len, POD_FILE_MAX - f->len)) > 0
              || (r < 0 && errno == EINTR)))
        if (r > 0)
          f->len += (size_t) r;
      f->content[f->len] = '\0';
    }
  if (fd >= 0)
    close (fd);
}

static void
work (uv_work_t *w)
{
  struct pod_file_reader *r = w->data;
  for (size_t i = 0; i < r->n; i++)
    read_one (&r->files[i]);
}

static void
reader_free (struct pod_file_reader *r)
{
  for (size_t i = 0; i < r->n; i++)
    {
      free (r->files[i].destination);
      free (r->files[i].root);
      free (r->files[i].relative);
      free (r->files[i].content);
      free (r->files[i].error);
    }
  free (r->files);
  free (r);
}

static void
after_work (uv_work_t *w, int status)
{
  struct pod_file_reader *r = w->data;
  (void) status;
  if (!r->cancelled)
    {
      struct bridge_pod_file *out = xzalloc ((r->n + 1) * sizeof *out);
      strbuf bad = STRBUF_INIT;
      for (size_t i = 0; i < r->n; i++)
        {
          const struct pod_file *f = &r->files[i];
          out[i]
              = (struct bridge_pod_file){ f->destination, f->content, f->len };
          if (f->error)
            strbuf_printf (&bad, "%s%s (from %s/%s): %s", bad.len ? "; " : "",
                           f->destination, f->root, f->relative, f->error);
        }
      shim_error e = { GRPC_INVALID_ARGUMENT, bad.data };
      r->done (r->data, out, r->n, bad.len ? &e : NULL);
      strbuf_release (&bad);
      free (out);
    }
  reader_free (r);
}

void
pod_file_reader_start (uv_loop_t *loop, const struct pod_file_bind *binds,
                       size_t n, pod_file_reader_done_fn done, void *data,
                       struct pod_file_reader **out)
{
  struct pod_file_reader *r = xzalloc (sizeof *r);
  r->files = xzalloc ((n + 1) * sizeof *r->files);
  r->n = n;
  for (size_t i = 0; i < n; i++)
    r->files[i]
        = (struct pod_file){ .destination = xstrdup (binds[i].destination),
                             .root = xstrdup (binds[i].root),
                             .relative = xstrdup (binds[i].relative) };
  r->done = done;
  r->data = data;
  r->work.data = r;
  uv_queue_work (loop, &r->work, work, after_work);
  *out = r;
}

void
pod_file_reader_cancel (struct pod_file_reader *r)
{
  if (r != NULL)
    r->cancelled = true;
}
