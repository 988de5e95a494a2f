/* See pod_cgroup.h.  */
#include "pod_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/base/strbuf.h"
#include "proto/base/go_parse.h"
#include "proto/base/xalloc.h"

/* systemd's slice layout: "a-b-c.slice" lives in a.slice/a-b.slice/.  */
static int
expand_slice (const char *slice, strbuf *out, shim_error **err)
{
  size_t len = strlen (slice);
  static const char suffix[] = ".slice";
  if (len <= sizeof suffix - 1
      || strcmp (slice + len - (sizeof suffix - 1), suffix) != 0
      || strchr (slice, '/') != NULL)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "cgroupsPath: slice \"%s\" is not a systemd slice "
                           "name (NAME.slice)",
                           slice);
  if (strcmp (slice, "-.slice") == 0)
    return 0;
  size_t name_len = len - (sizeof suffix - 1);
  if (slice[0] == '-' || slice[name_len - 1] == '-'
      || memmem (slice, name_len, "--", 2) != NULL)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "cgroupsPath: slice \"%s\" has an empty "
                           "component",
                           slice);
  for (size_t i = 0; i < name_len; i++)
    if (slice[i] == '-')
      {
        strbuf_append (out, slice, i);
        strbuf_puts (out, ".slice/");
      }
  strbuf_puts (out, slice);
  return 0;
}

int
pod_cgroup_dir (const char *cgroups_path, char **out, shim_error **err)
{
  if (cgroups_path[0] == '/')
    {
      const char *rel = cgroups_path;
      while (*rel == '/')
        rel++;
      if (*rel == '\0' || !path_is_plain (rel))
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "cgroupsPath \"%s\": not a directory below "
                               "the hierarchy's root",
                               cgroups_path);
      *out = xstrdup (rel);
      return 0;
    }
  cleanup_free char *copy = xstrdup (cgroups_path);
  char *prefix = strchr (copy, ':');
  char *name = prefix ? strchr (prefix + 1, ':') : NULL;
  if (name == NULL || strchr (name + 1, ':') != NULL)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "cgroupsPath \"%s\" is neither an absolute "
                           "cgroupfs path nor systemd's slice:prefix:name",
                           cgroups_path);
  *prefix++ = '\0';
  *name++ = '\0';
  if (*name == '\0' || strchr (name, '/') || strchr (prefix, '/'))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "cgroupsPath \"%s\": a unit name needs a name "
                           "and no '/'",
                           cgroups_path);
  strbuf b = STRBUF_INIT;
  if (expand_slice (*copy ? copy : "-.slice", &b, err) < 0)
    {
      strbuf_release (&b);
      return -1;
    }
  if (b.len)
    strbuf_putc (&b, '/');
  size_t n = strlen (name);
  /* A name that is a slice is the unit; any other is a scope.  */
  if (n > 6 && strcmp (name + n - 6, ".slice") == 0)
    strbuf_puts (&b, name);
  else if (*prefix)
    strbuf_printf (&b, "%s-%s.scope", prefix, name);
  else
    strbuf_printf (&b, "%s.scope", name);
  *out = strbuf_detach (&b);
  return 0;
}

/* The cgroup hierarchies in mountinfo (fstype cgroup or cgroup2, mounted
   from their root): their mount points, and whether each is cpuset's.  */
struct hierarchy
{
  char *dir;
  bool cpuset;
};

static size_t
hierarchies (const char *mountinfo, struct hierarchy **out)
{
  FILE *f = fopen (mountinfo, "re");
  size_t n = 0, cap = 0;
  *out = NULL;
  char line[4096];
  while (f != NULL && fgets (line, sizeof line, f) != NULL)
    {
      /* id parent dev root mountpoint opts [optional...] - type src super */
      char *fields[6];
      char *save = NULL, *tok = strtok_r (line, " \n", &save);
      int i = 0;
      for (; tok != NULL && i < 5; tok = strtok_r (NULL, " \n", &save))
        fields[i++] = tok;
      while (tok != NULL && strcmp (tok, "-") != 0)
        tok = strtok_r (NULL, " \n", &save);
      char *type = tok ? strtok_r (NULL, " \n", &save) : NULL;
      char *source = type ? strtok_r (NULL, " \n", &save) : NULL;
      char *super = source ? strtok_r (NULL, " \n", &save) : NULL;
      if (i < 5 || type == NULL || strcmp (fields[3], "/") != 0
          || (strcmp (type, "cgroup") != 0 && strcmp (type, "cgroup2") != 0))
        continue;
      if (n == cap)
        *out = xrealloc (*out, (cap = cap ? 2 * cap : 16) * sizeof **out);
      bool cpuset = false;
      for (char *o = super ? strtok_r (super, ",", &save) : NULL; o != NULL;
           o = strtok_r (NULL, ",", &save))
        cpuset |= strcmp (o, "cpuset") == 0;
      (*out)[n++] = (struct hierarchy){ xstrdup (fields[4]), cpuset };
    }
  if (f != NULL)
    fclose (f);
  return n;
}

static void
free_hierarchies (struct hierarchy *h, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (h[i].dir);
  free (h);
}

/* The two files a cpuset needs set before any task may join it.  */
static const char *const cpuset_files[] = { "cpuset.cpus", "cpuset.mems" };

/* A cgroup file's short value (at most len - 1 bytes): its length, or -1.  */
static ssize_t
read_value (const char *dir, const char *file, char *value, size_t len)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, value, len - 1) : -1;
  if (fd >= 0)
    close (fd);
  value[n > 0 ? n : 0] = '\0';
  return n;
}

/* A new cpuset directory takes its parent's cpus and mems (else no task
   may join it).  */
static int
inherit_cpuset (const char *dir)
{
  cleanup_free char *parent = xasprintf ("%s/..", dir);
  for (size_t i = 0; i < 2; i++)
    {
      char value[256];
      ssize_t n = read_value (parent, cpuset_files[i], value, sizeof value);
      if (n <= 0)
        return -1;
      cleanup_free char *mine = xasprintf ("%s/%s", dir, cpuset_files[i]);
      int fd = open (mine, O_WRONLY | O_CLOEXEC);
      /* A cgroup file takes a short value in one write.  */
      int r = fd >= 0 && write (fd, value, (size_t) n) == n ? 0 : -1;
      if (fd >= 0)
        close (fd);
      if (r < 0)
        return -1;
    }
  return 0;
}

/* A cpuset directory with no cpus or no mems yet: just made, here or by a
   process joining at the same time (the VMM and its virtiofsd start
   together; the other may have written cpus and not yet mems).  */
static bool
cpuset_empty (const char *dir)
{
  for (size_t i = 0; i < 2; i++)
    {
      char value[8];
      ssize_t n = read_value (dir, cpuset_files[i], value, sizeof value);
      if (n == 0 || (n == 1 && value[0] == '\n'))
        return true;
    }
  return false;
}

/* mkdir -p root/dir, a cpuset hierarchy's new directories inheriting (a
   directory someone else made inherits too while it is empty; one already
   set up, as the kubelet's CPU manager sets it, is left as it is).  */
static int
make_dirs (const struct hierarchy *h, const char *dir)
{
  strbuf path = STRBUF_INIT;
  strbuf_puts (&path, h->dir);
  const char *c = dir;
  int r = 0;
  while (r == 0 && *c)
    {
      size_t n = strcspn (c, "/");
      strbuf_putc (&path, '/');
      strbuf_append (&path, c, n);
      bool made = mkdir (path.data, 0755) == 0;
      if (!made && errno != EEXIST)
        r = -1;
      else if (h->cpuset && (made || cpuset_empty (path.data)))
        r = inherit_cpuset (path.data);
      c += n;
      while (*c == '/')
        c++;
    }
  strbuf_release (&path);
  return r;
}

int
pod_cgroup_join (const char *mountinfo, const char *dir, shim_error **err)
{
  struct hierarchy *h;
  size_t n = hierarchies (mountinfo, &h);
  int r = 0;
  for (size_t i = 0; r == 0 && i < n; i++)
    {
      cleanup_free char *procs
          = xasprintf ("%s/%s/cgroup.procs", h[i].dir, dir);
      int fd = -1;
      if (make_dirs (&h[i], dir) < 0
          || (fd = open (procs, O_WRONLY | O_CLOEXEC)) < 0
          || write (fd, "0", 1) != 1)
        r = shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                              "join the pod's cgroup %s/%s", h[i].dir, dir);
      if (fd >= 0)
        close (fd);
    }
  free_hierarchies (h, n);
  return r;
}

int
pod_cgroup_remove (const char *mountinfo, const char *dir, shim_error **err)
{
  struct hierarchy *h;
  size_t n = hierarchies (mountinfo, &h);
  int r = 0;
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *path = xasprintf ("%s/%s", h[i].dir, dir);
      if (rmdir (path) < 0 && errno != ENOENT && r == 0)
        r = shim_error_errno (err, GRPC_INTERNAL, errno, "remove cgroup %s",
                              path);
    }
  free_hierarchies (h, n);
  return r;
}

uint64_t
pod_cgroup_memory_limit (const char *mountinfo, const char *dir)
{
  static const char *const files[] = { "memory.max", "memory.limit_in_bytes" };
  cleanup_free char *parent = xstrdup (dir);
  char *slash = strrchr (parent, '/');
  if (slash == NULL)
    return 0; /* a pod cgroup at the root: nothing above it to read */
  *slash = '\0';
  struct hierarchy *h;
  size_t n = hierarchies (mountinfo, &h);
  uint64_t limit = 0;
  for (size_t i = 0; i < n && limit == 0; i++)
    for (size_t f = 0; f < 2 && limit == 0; f++)
      {
        cleanup_free char *path
            = xasprintf ("%s/%s/%s", h[i].dir, parent, files[f]);
        cleanup_free char *text = NULL;
        size_t len = 0;
        uint64_t v;
        if (read_file_capped (-1, path, 64, &text, &len, NULL) == 0)
          {
            text[strcspn (text, "\n")] = '\0';
            /* "max", or v1's page-rounded INT64_MAX: no limit.  */
            if (go_parse_uint (text, 64, &v) == 0 && v < (1ull << 62))
              limit = v;
          }
      }
  free_hierarchies (h, n);
  return limit;
}
