#include "file_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

int
read_file_capped (int dirfd, const char *path, size_t max, char **out,
                  size_t *len, shim_error **err)
{
  int flags = O_RDONLY | O_CLOEXEC | (dirfd >= 0 ? O_NOFOLLOW : 0);
  cleanup_close int fd = openat (dirfd >= 0 ? dirfd : AT_FDCWD, path, flags);
  if (fd < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "open %s", path);
  struct stat st;
  if (fstat (fd, &st) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "stat %s", path);
  if (!S_ISREG (st.st_mode))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "%s is not a regular file", path);
  if ((size_t) st.st_size > max)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "%s is %lld bytes, more than the %zu allowed", path,
                           (long long) st.st_size, max);
  strbuf sb = STRBUF_INIT;
  char chunk[16384];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          strbuf_release (&sb);
          return shim_error_errno (err, GRPC_INTERNAL, errno, "read %s", path);
        }
      if (n == 0)
        break;
      if (sb.len + (size_t) n > max)
        {
          strbuf_release (&sb);
          return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                                 "%s is more than the %zu bytes allowed", path,
                                 max);
        }
      strbuf_append (&sb, chunk, (size_t) n);
    }
  *len = sb.len;
  *out = strbuf_detach (&sb);
  return 0;
}

int
write_file_atomic (const char *path, const void *data, size_t len,
                   shim_error **err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp", path);
  cleanup_close int fd
      = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "create %s", tmp);
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          unlink (tmp);
          return shim_error_errno (err, grpc_code_from_errno (e), e,
                                   "write %s", tmp);
        }
      p += n;
      len -= (size_t) n;
    }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return shim_error_errno (err, grpc_code_from_errno (e), e, "rename %s",
                               tmp);
    }
  return 0;
}

int
open_beneath (int dirfd, const char *path, int flags, uint64_t resolve)
{
  struct open_how how = {
    .flags = (uint64_t) flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
    .resolve = resolve,
  };
  return (int) syscall (SYS_openat2, dirfd, path, &how, sizeof how);
}

int
mkdir_p (const char *path, unsigned mode, shim_error **err)
{
  cleanup_free char *copy = xstrdup (path);
  for (char *p = copy + 1;; p++)
    {
      char c = *p;
      if (c != '/' && c != '\0')
        continue;
      *p = '\0';
      if (mkdir (copy, mode) < 0 && errno != EEXIST)
        return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                                 "mkdir %s", copy);
      *p = c;
      if (c == '\0')
        return 0;
    }
}

static int
remove_at (int dirfd, const char *name)
{
  if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -1;
  int fd
      = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return -1;
    }
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      remove_at (fd, de->d_name);
  closedir (d);
  return unlinkat (dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

int
remove_tree (const char *path)
{
  return remove_at (AT_FDCWD, path);
}

bool
path_is_plain (const char *relative)
{
  for (const char *c = relative;;)
    {
      size_t n = strcspn (c, "/");
      if (n == 0 || (n == 1 && c[0] == '.')
          || (n == 2 && c[0] == '.' && c[1] == '.'))
        return false;
      if (c[n] == '\0')
        return true;
      c += n + 1;
    }
}
