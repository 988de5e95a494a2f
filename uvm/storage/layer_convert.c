#include "layer_convert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layer_cache.h"
#include "proto/base/cleanup.h"
#include "proto/base/clock.h"
#include "proto/base/file_io.h"
#include "proto/base/go_parse.h"
#include "proto/base/json.h"
#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/helper/helper_run.h"

/* Images are reproducible: the same tree gives the same bytes (a fixed
   UUID, and a build time that clamps no file's mtime), so the digest names
   the content on any host with the same mkfs.erofs.  */
#define IMAGE_UUID "6c636f77-6c61-7965-7273-000000000001"
#define BUILD_EPOCH "4102444800" /* 2100-01-01 */

static const char *
mkfs_path (void)
{
  static const char *const candidates[]
      = { "/usr/bin/mkfs.erofs", "/usr/sbin/mkfs.erofs", "/sbin/mkfs.erofs" };
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
    if (access (candidates[i], X_OK) == 0)
      return candidates[i];
  return NULL;
}

/* What the helper answers once it is done (uvm/helper/helper_run.h).  */
struct convert_answer
{
  const char *outcome; /* "converted" or "cached" */
  uint64_t bytes;
  int64_t ms;
  char digest[7 + 2 * SHA256_DIGEST_LEN + 1]; /* "sha256:..." of the image */
  strbuf evicted;                             /* JSON objects, comma-led */
  shim_error *err;
};

static int fail (struct convert_answer *a, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
fail (struct convert_answer *a, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = xvasprintf (fmt, ap);
  va_end (ap);
  if (a->err == NULL)
    shim_error_set (&a->err, GRPC_INTERNAL, "%s", msg);
  return 1;
}

/* Runs mkfs.erofs IMAGE SRC; 0 or the failure printed.  */
static int
build_image (struct convert_answer *a, const char *image, const char *src)
{
  const char *mkfs = mkfs_path ();
  if (mkfs == NULL)
    return fail (a, "mkfs.erofs not found (install erofs-utils)");
  fflush (stdout);
  pid_t pid = fork ();
  if (pid < 0)
    return fail (a, "fork: %s", strerror (errno));
  if (pid == 0)
    {
      /* The shim kills this helper when nobody needs the layer any more.  */
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      int null = open ("/dev/null", O_WRONLY);
      if (null >= 0)
        dup2 (null, 1);
      setenv ("SOURCE_DATE_EPOCH", BUILD_EPOCH, 1);
      execl (mkfs, mkfs, "--quiet", "-U" IMAGE_UUID, "--preserve-mtime", image,
             src, (char *) NULL);
      _exit (127);
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return fail (a, "wait for mkfs.erofs: %s", strerror (errno));
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return fail (a, "mkfs.erofs %s failed (%s %d)", src,
                 WIFEXITED (status) ? "status" : "signal",
                 WIFEXITED (status) ? WEXITSTATUS (status)
                                    : WTERMSIG (status));
  return 0;
}

/* The image's sha256 (hex), its size; 0 or the failure printed.  */
static int
digest_image (struct convert_answer *a, const char *image,
              char hex[2 * SHA256_DIGEST_LEN + 1], uint64_t *bytes)
{
  cleanup_close int fd = open (image, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0 || fsync (fd) < 0)
    return fail (a, "read %s: %s", image, strerror (errno));
  void *m = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED)
    return fail (a, "map %s: %s", image, strerror (errno));
  sha256_hex (m, (size_t) st.st_size, hex);
  munmap (m, (size_t) st.st_size);
  *bytes = (uint64_t) st.st_size;
  return 0;
}

static int
convert_uncached (struct convert_answer *a, const char *image, const char *src)
{
  uint64_t t0 = monotonic_ms ();
  cleanup_free char *parent = xstrdup (image);
  char *slash = strrchr (parent, '/');
  shim_error *err = NULL;
  if (slash != NULL && slash != parent)
    *slash = '\0';
  if (slash != NULL && slash != parent && mkdir_p (parent, 0700, &err) < 0)
    {
      int r = fail (a, "image directory: %s", err->msg);
      shim_error_free (err);
      return r;
    }
  unlink (image);
  char hex[2 * SHA256_DIGEST_LEN + 1];
  if (build_image (a, image, src) != 0
      || digest_image (a, image, hex, &a->bytes) != 0)
    {
      unlink (image);
      return 1;
    }
  a->outcome = "converted";
  a->ms = (int64_t) (monotonic_ms () - t0);
  snprintf (a->digest, sizeof a->digest, "sha256:%s", hex);
  return 0;
}

/* .K.PID.tmp of a converter that is gone.  */
static bool
stale_tmp (const char *name)
{
  size_t n = strlen (name);
  if (name[0] != '.' || n < LAYER_KEY_LEN + 7
      || strcmp (name + n - 4, ".tmp") != 0 || name[LAYER_KEY_LEN + 1] != '.')
    return false;
  long pid = strtol (name + LAYER_KEY_LEN + 2, NULL, 10);
  return pid > 0 && kill ((pid_t) pid, 0) < 0 && errno == ESRCH;
}

static void
remove_layer (int dirfd, const char *key)
{
  static const char *const suffixes[] = { ".erofs", ".json", ".lock" };
  for (size_t i = 0; i < 3; i++)
    {
      char name[LAYER_KEY_LEN + 8];
      snprintf (name, sizeof name, "%s%s", key, suffixes[i]);
      unlinkat (dirfd, name, 0);
    }
}

/* Removes the least recently used images no sandbox holds until at most
   max_bytes stay; keep (the layer just asked for) stays whatever happens.  */
static void
evict (struct convert_answer *a, const char *cache, uint64_t max_bytes,
       const char *keep)
{
  cleanup_close int dirfd = open (cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return;
  cleanup_close int lock
      = openat (dirfd, ".evict.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0 || flock (lock, LOCK_EX) < 0)
    return;
  DIR *d = fdopendir (dup (dirfd));
  if (d == NULL)
    return;
  size_t n = 0, cap = 16;
  struct layer_cache_entry *e = xzalloc (cap * sizeof *e);
  char (*keys)[LAYER_KEY_LEN + 1] = xzalloc (cap * sizeof *keys);
  int *fds = xzalloc (cap * sizeof *fds);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      char key[LAYER_KEY_LEN + 1];
      if (stale_tmp (de->d_name))
        {
          unlinkat (dirfd, de->d_name, 0);
          continue;
        }
      if (!layer_cache_image_name (de->d_name, key))
        continue;
      int fd = openat (dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      struct stat st;
      if (fd < 0 || fstat (fd, &st) < 0)
        {
          if (fd >= 0)
            close (fd);
          continue;
        }
      if (n == cap)
        {
          cap *= 2;
          e = xrealloc (e, cap * sizeof *e);
          keys = xrealloc (keys, cap * sizeof *keys);
          fds = xrealloc (fds, cap * sizeof *fds);
        }
      /* A sandbox that uses the image holds a shared lock on it.  */
      bool locked = flock (fd, LOCK_EX | LOCK_NB) == 0;
      e[n] = (struct layer_cache_entry){
        .id = n,
        .bytes = (uint64_t) st.st_size,
        .used_ns
        = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
        .in_use = !locked || strcmp (key, keep) == 0,
      };
      memcpy (keys[n], key, sizeof keys[n]);
      fds[n++] = fd;
    }
  closedir (d);
  layer_cache_pick_victims (e, n, max_bytes);
  for (size_t i = 0; i < n; i++)
    if (e[i].evict)
      {
        remove_layer (dirfd, keys[e[i].id]);
        strbuf_printf (&a->evicted, ",{\"key\":\"%s\",\"bytes\":%llu}",
                       keys[e[i].id], (unsigned long long) e[i].bytes);
      }
  for (size_t i = 0; i < n; i++)
    close (fds[i]);
  free (e);
  free (keys);
  free (fds);
}

/* The digest K.json recorded when the image was made (a live migration
   compares it with the source's disk).  */
static int
read_cached_digest (struct convert_answer *a, const char *cache,
                    const char *key)
{
  cleanup_free char *path = xasprintf ("%s/%s.json", cache, key);
  cleanup_free char *text = NULL;
  size_t len = 0;
  shim_error *err = NULL;
  if (read_file_capped (-1, path, 4096, &text, &len, &err) < 0)
    {
      int r = fail (a, "%s", err->msg);
      shim_error_free (err);
      return r;
    }
  static const struct json_limits meta_limits = { 4, 16384 };
  json_value *meta = json_parse (text, len, &meta_limits, &err);
  const char *digest = meta ? json_get_string (meta, "digest") : NULL;
  if (digest == NULL || strlen (digest) != sizeof a->digest - 1
      || strncmp (digest, "sha256:", 7) != 0)
    {
      int r = fail (a, "%s: no image digest in it%s%s", path, err ? ": " : "",
                    err ? err->msg : "");
      shim_error_free (err);
      json_free (meta);
      return r;
    }
  memcpy (a->digest, digest, sizeof a->digest);
  json_free (meta);
  return 0;
}

static int
convert_cached (struct convert_answer *a, const char *cache,
                uint64_t max_bytes, const char *key, const char *src)
{
  uint64_t t0 = monotonic_ms ();
  shim_error *err = NULL;
  if (mkdir_p (cache, 0700, &err) < 0)
    {
      int r = fail (a, "cache directory: %s", err->msg);
      shim_error_free (err);
      return r;
    }
  cleanup_free char *lock_path = xasprintf ("%s/%s.lock", cache, key);
  cleanup_free char *image = xasprintf ("%s/%s.erofs", cache, key);
  cleanup_close int lock
      = open (lock_path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0 || flock (lock, LOCK_EX) < 0)
    return fail (a, "lock %s: %s", lock_path, strerror (errno));
  struct stat st;
  if (stat (image, &st) == 0)
    {
      utimensat (AT_FDCWD, image, NULL, 0); /* most recently used */
      a->outcome = "cached";
      a->bytes = (uint64_t) st.st_size;
      a->ms = (int64_t) (monotonic_ms () - t0);
      if (read_cached_digest (a, cache, key) != 0)
        return 1;
    }
  else
    {
      cleanup_free char *tmp
          = xasprintf ("%s/.%s.%d.tmp", cache, key, (int) getpid ());
      char hex[2 * SHA256_DIGEST_LEN + 1];
      uint64_t bytes = 0;
      if (build_image (a, tmp, src) != 0
          || digest_image (a, tmp, hex, &bytes) != 0)
        {
          unlink (tmp);
          return 1;
        }
      strbuf meta = STRBUF_INIT;
      strbuf_puts (&meta, "{\"source\":");
      strbuf_json_string (&meta, src, strlen (src));
      strbuf_printf (&meta,
                     ",\"digest\":\"sha256:%s\",\"bytes\":%llu,"
                     "\"mkfs\":\"mkfs.erofs -U%s --preserve-mtime "
                     "SOURCE_DATE_EPOCH=%s\"}\n",
                     hex, (unsigned long long) bytes, IMAGE_UUID, BUILD_EPOCH);
      cleanup_free char *meta_path = xasprintf ("%s/%s.json", cache, key);
      int r = write_file_atomic (meta_path, meta.data, meta.len, &err);
      strbuf_release (&meta);
      if (r < 0 || rename (tmp, image) < 0)
        {
          r = fail (a, "store %s: %s", image,
                    err ? err->msg : strerror (errno));
          shim_error_free (err);
          unlink (tmp);
          return r;
        }
      a->outcome = "converted";
      a->bytes = bytes;
      a->ms = (int64_t) (monotonic_ms () - t0);
      snprintf (a->digest, sizeof a->digest, "sha256:%s", hex);
    }
  /* Unlocked, so that a shim waiting for this layer goes on.  */
  close (lock);
  lock = -1;
  evict (a, cache, max_bytes, key);
  return 0;
}

int
layer_convert_main (int argc, char **argv)
{
  const char *cache = NULL, *key = NULL, *out = NULL, *max = NULL;
  int i = 1;
  for (; i + 1 < argc && strncmp (argv[i], "--", 2) == 0; i += 2)
    if (strcmp (argv[i], "--cache") == 0)
      cache = argv[i + 1];
    else if (strcmp (argv[i], "--key") == 0)
      key = argv[i + 1];
    else if (strcmp (argv[i], "--out") == 0)
      out = argv[i + 1];
    else if (strcmp (argv[i], "--max-mb") == 0)
      max = argv[i + 1];
    else
      break;
  uint64_t max_mb = 0;
  char key_check[LAYER_KEY_LEN + 1];
  cleanup_free char *key_name = key ? xasprintf ("%s.erofs", key) : NULL;
  bool cached_form = cache && key && max && !out
                     && go_parse_uint (max, 40, &max_mb) == 0
                     && layer_cache_image_name (key_name, key_check);
  bool uncached_form = out && !cache && !key && !max;
  if (i + 1 != argc || !(cached_form || uncached_form))
    {
      fprintf (stderr, "usage: layer-convert --cache DIR --max-mb N --key K "
                       "SRC | layer-convert --out IMAGE SRC\n");
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  struct convert_answer a = { .evicted = STRBUF_INIT };
  int r = cached_form ? convert_cached (&a, cache, max_mb << 20, key, argv[i])
                      : convert_uncached (&a, out, argv[i]);
  if (r != 0)
    helper_answer_error (stdout, a.err);
  else
    printf ("{\"outcome\":\"%s\",\"bytes\":%llu,\"ms\":%lld,\"digest\":\"%s\","
            "\"evicted\":[%s]}\n",
            a.outcome, (unsigned long long) a.bytes, (long long) a.ms,
            a.digest, a.evicted.len ? a.evicted.data + 1 : "");
  shim_error_free (a.err);
  strbuf_release (&a.evicted);
  return fflush (stdout) == 0 ? r : 1;
}
