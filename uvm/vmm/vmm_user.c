#include "vmm_user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/go_parse.h"
#include "proto/base/xalloc.h"

void
vmm_user_choose (const struct shim_config *cfg, const char *state_name,
                 struct vmm_user *out)
{
  *out = (struct vmm_user){ 0, 0, 0 };
  if (cfg->vmm_user == VMM_USER_ROOT)
    return;
  if (cfg->vmm_user == VMM_USER_FIXED)
    {
      out->uid = cfg->vmm_uid;
      out->gid = cfg->vmm_gid;
    }
  else
    {
      char hex[7] = "";
      snprintf (hex, sizeof hex, "%s", state_name);
      unsigned long bits = strtoul (hex, NULL, 16);
      out->uid = out->gid = VMM_USER_UID_BASE + (uint32_t) (bits & 0xffffff);
    }
  struct stat st;
  if (out->uid != 0 && stat ("/dev/kvm", &st) == 0 && st.st_gid != 0)
    out->kvm_gid = st.st_gid;
}

/* 1: lease holds uid now; 0: another sandbox holds it.  A holder
   removes the file as it lets go, so the file locked must still be the
   one at path.  */
static int
try_lease (const char *path, struct vmm_user_lease *lease, shim_error **err)
{
  for (;;)
    {
      int fd = open (path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        return shim_error_errno (err, GRPC_INTERNAL, errno, "open %s", path);
      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        {
          int e = errno;
          close (fd);
          if (e == EWOULDBLOCK)
            return 0;
          return shim_error_errno (err, GRPC_INTERNAL, e, "lock %s", path);
        }
      struct stat locked, named;
      if (fstat (fd, &locked) == 0 && stat (path, &named) == 0
          && locked.st_dev == named.st_dev && locked.st_ino == named.st_ino)
        {
          lease->fd = fd;
          lease->path = xstrdup (path);
          return 1;
        }
      close (fd);
    }
}

int
vmm_user_lease (const struct shim_config *cfg, const char *state_name,
                const char *lock_dir, struct vmm_user *out,
                struct vmm_user_lease *lease, shim_error **err)
{
  *lease = (struct vmm_user_lease){ -1, NULL };
  vmm_user_choose (cfg, state_name, out);
  if (out->uid == 0)
    return 0;
  if (mkdir (lock_dir, 0700) < 0 && errno != EEXIST)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "mkdir %s", lock_dir);
  bool automatic = cfg->vmm_user == VMM_USER_AUTO;
  uint32_t first = out->uid - VMM_USER_UID_BASE;
  for (uint32_t i = 0; i < (automatic ? VMM_USER_PROBES : 1); i++)
    {
      if (automatic)
        out->uid = out->gid = VMM_USER_UID_BASE + ((first + i) & 0xffffff);
      cleanup_free char *path
          = xasprintf ("%s/%u.lock", lock_dir, (unsigned) out->uid);
      int r = try_lease (path, lease, err);
      if (r != 0)
        return r < 0 ? -1 : 0;
    }
  if (automatic)
    return shim_error_set (err, GRPC_RESOURCE_EXHAUSTED,
                           "no free VMM uid: %u live sandboxes hold every "
                           "uid from %u",
                           VMM_USER_PROBES,
                           (unsigned) (VMM_USER_UID_BASE + first));
  return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                         "vmm_user %u:%u is held by another live sandbox "
                         "(a uid runs one sandbox's VMM; \"auto\" gives each "
                         "its own)",
                         (unsigned) out->uid, (unsigned) out->gid);
}

void
vmm_user_lease_release (struct vmm_user_lease *lease)
{
  if (lease->fd < 0)
    return;
  /* Unlinked while still locked: a sandbox that opened the file before
     finds it gone and opens the path again.  */
  unlink (lease->path);
  close (lease->fd);
  free (lease->path);
  *lease = (struct vmm_user_lease){ -1, NULL };
}

void
vmm_user_lease_cleanup_orphan (const char *lock_dir, uid_t uid)
{
  if (uid == 0)
    return;
  cleanup_free char *path = xasprintf ("%s/%u.lock", lock_dir, (unsigned) uid);
  struct vmm_user_lease lease = { -1, NULL };
  if (try_lease (path, &lease, NULL) == 1)
    vmm_user_lease_release (&lease);
}

bool
vmm_user_can_read (const struct vmm_user *u, const char *const *paths,
                   size_t n, char **why)
{
  if (u->uid == 0)
    return true;
  /* The fs ids are per thread; this one is the event loop's.  */
  setfsgid (u->gid);
  setfsuid (u->uid);
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++)
    {
      if (paths[i] == NULL)
        continue;
      int fd = open (paths[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      if (fd < 0)
        {
          ok = false;
          *why = xasprintf ("uid %u cannot read %s: %s", (unsigned) u->uid,
                            paths[i], strerror (errno));
        }
      else
        close (fd);
    }
  setfsuid (0);
  setfsgid (0);
  return ok;
}

int
vmm_user_own (const struct vmm_user *u, const char *dir, shim_error **err)
{
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "mkdir %s", dir);
  if (chown (dir, u->uid, u->gid) < 0 || chmod (dir, 0700) < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "give %s to uid %u", dir, (unsigned) u->uid);
  return 0;
}

int
vmm_user_give (const struct vmm_user *u, const char *path, shim_error **err)
{
  cleanup_close int fd = open (path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "open %s", path);
  if (!S_ISSOCK (st.st_mode) && !S_ISREG (st.st_mode))
    return shim_error_set (err, GRPC_INTERNAL,
                           "%s is neither a socket nor a file", path);
  if (fchownat (fd, "", u->uid, u->gid, AT_EMPTY_PATH) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "give %s to uid %u",
                             path, (unsigned) u->uid);
  return 0;
}

const char *
vmm_user_arg (const struct vmm_user *u)
{
  static char buf[48];
  snprintf (buf, sizeof buf, "%u:%u:%u", (unsigned) u->uid, (unsigned) u->gid,
            (unsigned) u->kvm_gid);
  return buf;
}

int
vmm_user_parse_arg (const char *s, struct vmm_user *out)
{
  uint32_t ids[3];
  if (go_parse_u32_fields (s, ':', ids, 3) < 0)
    return -1;
  *out = (struct vmm_user){ ids[0], ids[1], ids[2] };
  return 0;
}

int
vmm_user_become (const struct vmm_user *u)
{
  if (u->uid == 0)
    return 0;
  gid_t groups[1] = { u->kvm_gid };
  if (setgroups (u->kvm_gid ? 1 : 0, groups) < 0 || setgid (u->gid) < 0
      || setuid (u->uid) < 0)
    return -1;
  /* setuid away from root cleared the capabilities; nothing it execs may
     gain privileges back.  */
  return prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
