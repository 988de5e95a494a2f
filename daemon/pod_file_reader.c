#include "pod_file_reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/file_io.h"
#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

struct pod_bind
{
  enum pod_content_kind kind;
  char *destination;
  char *root;
  char *relative;
  char *error;
  pod_volume_stamp stamp;
};

struct read_file
{
  char *path; /* where the container sees it */
  char *content;
  size_t len;
  unsigned mode;
};

struct pod_file_reader
{
  uv_work_t work;
  struct pod_bind *binds;
  size_t nbinds;
  struct read_file *files;
  size_t nfiles, cap;
  size_t total; /* bytes read */
  pod_file_reader_done_fn done;
  void *data;
  bool content;
  bool cancelled;
};

int
pod_file_open (const char *root, const char *relative, int flags)
{
  int dir = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return -1;
  int fd = open_beneath (dir, relative, flags,
                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
                             | RESOLVE_NO_MAGICLINKS);
  int e = errno;
  close (dir);
  errno = e;
  return fd;
}

/* Reads the regular file fd into a new entry at path; NULL or why not.  */
static char *
take_file (struct pod_file_reader *r, int fd, const char *path)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return xstrdup (strerror (errno));
  if (!S_ISREG (st.st_mode))
    return xstrdup ("not a regular file");
  if (st.st_size > (off_t) POD_FILE_MAX)
    return xasprintf ("%lld bytes, more than the %u allowed",
                      (long long) st.st_size, POD_FILE_MAX);
  if (r->total + (size_t) st.st_size > POD_CONTENT_MAX)
    return xasprintf ("the container's pod content exceeds %u bytes",
                      POD_CONTENT_MAX);
  if (r->nfiles == r->cap)
    {
      r->cap = r->cap ? 2 * r->cap : 8;
      r->files = xrealloc (r->files, r->cap * sizeof *r->files);
    }
  struct read_file *f = &r->files[r->nfiles++];
  *f = (struct read_file){ .path = xstrdup (path),
                           .content = xmalloc ((size_t) st.st_size + 1),
                           .mode = (unsigned) st.st_mode & 07777 };
  ssize_t n;
  while (f->len < (size_t) st.st_size
         && ((n = read (fd, f->content + f->len, (size_t) st.st_size - f->len))
                 > 0
             || (n < 0 && errno == EINTR)))
    if (n > 0)
      f->len += (size_t) n;
  f->content[f->len] = '\0';
  r->total += f->len;
  return NULL;
}

/* The files of directory rel (relative to the volume vol) under dest;
   NULL or why not.  */
static char *
take_volume_dir (struct pod_file_reader *r, int vol, const char *rel,
                 const char *dest, int depth, size_t *count)
{
  if (depth > POD_VOLUME_DEPTH)
    return xasprintf ("more than %d levels of directories", POD_VOLUME_DEPTH);
  int fd = open_beneath (vol, rel, O_RDONLY | O_DIRECTORY,
                         RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return xasprintf ("%s: %s", rel, strerror (errno));
    }
  char *why = NULL;
  struct dirent *de;
  while (why == NULL && (de = readdir (d)) != NULL)
    {
      /* ".", "..", and the kubelet's "..data" and "..<timestamp>".  */
      if (strncmp (de->d_name, "..", 2) == 0 || strcmp (de->d_name, ".") == 0)
        continue;
      if (++*count > POD_VOLUME_FILES)
        {
          why = xasprintf ("more than %d entries", POD_VOLUME_FILES);
          break;
        }
      char *sub = strcmp (rel, ".") == 0
                      ? xstrdup (de->d_name)
                      : xasprintf ("%s/%s", rel, de->d_name);
      char *path = xasprintf ("%s/%s", dest, de->d_name);
      int e = open_beneath (vol, sub, O_RDONLY,
                            RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
      struct stat st;
      if (e < 0)
        why = xasprintf ("%s: %s", sub,
                         errno == EXDEV ? "a symlink out of the volume"
                                        : strerror (errno));
      else if (fstat (e, &st) == 0 && S_ISDIR (st.st_mode))
        why = take_volume_dir (r, vol, sub, path, depth + 1, count);
      else if ((why = take_file (r, e, path)) != NULL)
        {
          char *w = xasprintf ("%s: %s", sub, why);
          free (why);
          why = w;
        }
      if (e >= 0)
        close (e);
      free (sub);
      free (path);
    }
  closedir (d);
  return why;
}

/* Every entry of the directory dir (closed here) and beneath, into b; the
   kubelet's ".."-named bookkeeping left out, as when reading.  */
static void
stamp_dir (int dir, strbuf *b, int depth, size_t *count)
{
  DIR *d = fdopendir (dir);
  if (d == NULL)
    {
      close (dir);
      return;
    }
  struct dirent *de;
  while ((de = readdir (d)) != NULL && *count < POD_VOLUME_FILES)
    {
      struct stat st;
      if (strncmp (de->d_name, "..", 2) == 0 || strcmp (de->d_name, ".") == 0
          || fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      ++*count;
      strbuf_printf (b, "%s%c%llu %lld %o %lld.%09ld %lld.%09ld%c", de->d_name,
                     0, (unsigned long long) st.st_ino, (long long) st.st_size,
                     (unsigned) st.st_mode, (long long) st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec,
                     st.st_ctim.tv_nsec, 0);
      int sub = S_ISDIR (st.st_mode) && depth < POD_VOLUME_DEPTH
                    ? openat (dirfd (d), de->d_name,
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    : -1;
      if (sub >= 0)
        stamp_dir (sub, b, depth + 1, count);
    }
  closedir (d);
}

static void
volume_stamp (int vol, pod_volume_stamp out)
{
  strbuf b = STRBUF_INIT;
  char target[4096];
  ssize_t n = readlinkat (vol, "..data", target, sizeof target);
  if (n > 0 && (size_t) n < sizeof target)
    {
      strbuf_puts (&b, "..data -> ");
      strbuf_append (&b, target, (size_t) n);
    }
  else
    {
      size_t count = 0;
      int dir = openat (vol, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir >= 0)
        stamp_dir (dir, &b, 0, &count);
    }
  sha256 (b.data ? b.data : "", b.len, out);
  strbuf_release (&b);
}

/* Reads b on a pool thread; the error goes into b.  */
static void
read_bind (struct pod_file_reader *r, struct pod_bind *b)
{
  bool volume = b->kind == POD_CONTENT_VOLUME;
  /* Made in the guest, or a host path shared into it: nothing to read;
     only a volume has a stamp.  */
  if (b->kind == POD_CONTENT_EMPTY_DIR || b->kind == POD_CONTENT_NONE
      || (!r->content && !volume))
    return;
  int fd = pod_file_open (b->root, b->relative,
                          O_RDONLY | (volume ? O_DIRECTORY : O_NOFOLLOW));
  int e = errno;
  if (fd < 0)
    b->error = xstrdup (e == ELOOP ? "a symlink on the way (not followed)"
                                   : strerror (e));
  else if (volume)
    {
      volume_stamp (fd, b->stamp);
      size_t count = 0;
      if (r->content)
        b->error = take_volume_dir (r, fd, ".", b->destination, 0, &count);
    }
  else
    b->error = take_file (r, fd, b->destination);
  if (fd >= 0)
    close (fd);
}

static void
work (uv_work_t *w)
{
  struct pod_file_reader *r = w->data;
  for (size_t i = 0; i < r->nbinds; i++)
    read_bind (r, &r->binds[i]);
}

static void
reader_free (struct pod_file_reader *r)
{
  for (size_t i = 0; i < r->nbinds; i++)
    {
      free (r->binds[i].destination);
      free (r->binds[i].root);
      free (r->binds[i].relative);
      free (r->binds[i].error);
    }
  for (size_t i = 0; i < r->nfiles; i++)
    {
      free (r->files[i].path);
      free (r->files[i].content);
    }
  free (r->binds);
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
      pod_volume_stamp *stamps = xzalloc ((r->nbinds + 1) * sizeof *stamps);
      for (size_t i = 0; i < r->nbinds; i++)
        memcpy (stamps[i], r->binds[i].stamp, sizeof stamps[i]);
      struct bridge_pod_file *out = xzalloc ((r->nfiles + 1) * sizeof *out);
      for (size_t i = 0; i < r->nfiles; i++)
        out[i]
            = (struct bridge_pod_file){ r->files[i].path, r->files[i].content,
                                        r->files[i].len, r->files[i].mode };
      strbuf bad = STRBUF_INIT;
      for (size_t i = 0; i < r->nbinds; i++)
        if (r->binds[i].error)
          strbuf_printf (&bad, "%s%s (from %s/%s): %s", bad.len ? "; " : "",
                         r->binds[i].destination, r->binds[i].root,
                         r->binds[i].relative, r->binds[i].error);
      shim_error e = { GRPC_INVALID_ARGUMENT, bad.data };
      r->done (r->data, out, r->nfiles, stamps, bad.len ? &e : NULL);
      strbuf_release (&bad);
      free (out);
      free (stamps);
    }
  reader_free (r);
}

void
pod_file_reader_start (uv_loop_t *loop, const struct pod_file_bind *binds,
                       size_t n, bool content, pod_file_reader_done_fn done,
                       void *data, struct pod_file_reader **out)
{
  struct pod_file_reader *r = xzalloc (sizeof *r);
  r->content = content;
  r->binds = xzalloc ((n + 1) * sizeof *r->binds);
  r->nbinds = n;
  for (size_t i = 0; i < n; i++)
    r->binds[i] = (struct pod_bind){
      .kind = binds[i].kind,
      .destination = xstrdup (binds[i].destination),
      .root = binds[i].root ? xstrdup (binds[i].root) : NULL,
      .relative = binds[i].relative ? xstrdup (binds[i].relative) : NULL,
    };
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
