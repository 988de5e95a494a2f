#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"
#include "capabilities.h"
#include "cgroup_resources.h"
#include "device_filter.h"
#include "network.h"
#include "pid_namespace.h"
#include "pod_namespaces.h"
#include "rootfs_path.h"
#include "seccomp_profile.h"
#include "sysctl.h"
#include "guest_io.h"
#include "proto/base/cleanup.h"
#include "proto/base/fd_pass.h"
#include "proto/base/file_io.h"
#include "proto/mount_options.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

#define CONTAINERS_DIR "/run/gcs/c"
#define CGROUP_ROOT "/sys/fs/cgroup"
/* How long a hot-added disk may take to appear.  */
#define DISK_WAIT_MS 10000

struct container
{
  char *id;
  char *dir;    /* CONTAINERS_DIR/<id> */
  char *rootfs; /* <dir>/rootfs: the overlay */
  char *cgroup; /* CGROUP_ROOT/<id> */
  struct oci_spec *spec;
  /* Pod files: destination in the container, file in <dir>/files.  */
  struct bridge_file *files;
  size_t nfiles;
  /* Volumes: destination in the container, copy in <dir>/v<i>, at its
     version (see write_volume).  */
  char **volumes;
  unsigned *volume_versions;
  size_t nvolumes;
  /* emptyDirs and host shares: destination, and the guest directory (or
     file) bound there (the pod's emptyDir, or beneath BRIDGE_SHARE_DIR).  */
  struct bridge_empty_dir *bound_dirs;
  size_t nbound_dirs;
  char *termination_log; /* its destination, or NULL */
  pid_t init_pid;
  /* The pod's hostname, from the create request (or NULL).  */
  char *pod_hostname;
  bool mounted_scratch, mounted_rootfs;
};

static void
sleep_ms (long ms)
{
  nanosleep (&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

static int
write_text (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int r = write_all (fd, text, strlen (text));
  close (fd);
  return r;
}

int
containers_init (shim_error **err)
{
  struct stat st;
  if (stat (CGROUP_ROOT "/cgroup.controllers", &st) < 0
      && mount ("cgroup2", CGROUP_ROOT, "cgroup2",
                MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
             < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "mount cgroup2");
  if (write_text (CGROUP_ROOT "/cgroup.subtree_control", "+cpu +memory +pids")
      < 0)
    agent_log (L_WARN, "cannot enable cgroup controllers", "error",
               strerror (errno));
  return mkdir_p (CONTAINERS_DIR, 0700, err);
}

const char *
container_id (const struct container *c)
{
  return c->id;
}

pid_t
container_init_pid (const struct container *c)
{
  return c->init_pid;
}

/* The block device of SCSI target `target` (LUN 0), waiting for the
   hot-plug to arrive: in sysfs, then as a node that devtmpfs creates
   asynchronously, then as a device that opens.  */
static int
find_disk (uint32_t target, char **out, shim_error **err)
{
  char pattern[96];
  snprintf (pattern, sizeof pattern, "/sys/bus/scsi/devices/*:0:%u:0/block/*",
            target);
  for (int waited = 0; waited < DISK_WAIT_MS; waited += 20)
    {
      glob_t g;
      if (glob (pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
        {
          const char *name = strrchr (g.gl_pathv[0], '/') + 1;
          char node[96];
          snprintf (node, sizeof node, "/dev/%s", name);
          /* The node comes before the device is registered (ENXIO).  */
          int fd = open (node, O_RDONLY | O_CLOEXEC);
          if (fd >= 0)
            {
              close (fd);
              *out = xstrdup (name);
              globfree (&g);
              return 0;
            }
        }
      globfree (&g);
      sleep_ms (20);
    }
  return shim_error_set (err, GRPC_NOT_FOUND,
                         "no disk at SCSI target %u after %d ms", target,
                         DISK_WAIT_MS);
}

static int
mount_or_fail (const char *src, const char *dst, const char *type,
               unsigned long flags, const char *data, shim_error **err)
{
  if (mount (src, dst, type, flags, data) < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "mount %s on %s", type ? type : src, dst);
  return 0;
}

/* ---- layer disks ------------------------------------------------------ */

/* Each layer disk is mounted once, read-only, at LAYERS_DIR/<target>, for
   every container that stacks it, until the host removes it.  */
#define LAYERS_DIR "/run/gcs/d"
#define LAYER_TARGETS 256
static bool layer_mounted[LAYER_TARGETS];

static int
layer_mount (uint32_t target, shim_error **err)
{
  if (target >= LAYER_TARGETS)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "layer disk at SCSI target %u: out of range",
                           target);
  if (layer_mounted[target])
    return 0;
  cleanup_free char *name = NULL;
  cleanup_free char *dir = xasprintf (LAYERS_DIR "/%u", target);
  if (find_disk (target, &name, err) < 0 || mkdir_p (dir, 0700, err) < 0)
    return -1;
  cleanup_free char *dev = xasprintf ("/dev/%s", name);
  if (mount_or_fail (dev, dir, "erofs", MS_RDONLY | MS_NODEV, NULL, err) < 0)
    return -1;
  layer_mounted[target] = true;
  agent_log (L_INFO, "layer disk mounted", "disk", dev);
  return 0;
}

int
container_disk_remove (uint32_t target, shim_error **err)
{
  if (target >= LAYER_TARGETS)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "SCSI target %u: out of range", target);
  cleanup_free char *dir = xasprintf (LAYERS_DIR "/%u", target);
  if (layer_mounted[target] && umount2 (dir, 0) < 0
      && umount2 (dir, MNT_DETACH) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "unmount %s", dir);
  layer_mounted[target] = false;
  rmdir (dir);
  cleanup_free char *name = NULL;
  /* The host unplugs it next: the guest lets go first.  */
  char pattern[96];
  snprintf (pattern, sizeof pattern, "/sys/bus/scsi/devices/*:0:%u:0/delete",
            target);
  glob_t g;
  if (glob (pattern, 0, NULL, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; i++)
      write_text (g.gl_pathv[i], "1");
  globfree (&g);
  return 0;
}

/* ---- pod volumes ---------------------------------------------------------
 */

/* emptyDirs live here, one directory per volume name, shared by the pod's
   containers.  */
#define EMPTY_DIRS "/run/gcs/pod/empty"

/* An emptyDir with a cap is a tmpfs of that size, mounted by the pod's
   first container that names it (the others find the mount).  */
static int
cap_empty_dir (const char *dir, uint64_t size, shim_error **err)
{
  struct stat mine, parent;
  cleanup_free char *up = xasprintf ("%s/..", dir);
  if (size == 0
      || (stat (dir, &mine) == 0 && stat (up, &parent) == 0
          && mine.st_dev != parent.st_dev))
    return 0;
  cleanup_free char *opts
      = xasprintf ("mode=0777,size=%llu", (unsigned long long) size);
  if (mount ("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "emptyDir %s: tmpfs of %llu bytes", dir,
                             (unsigned long long) size);
  return 0;
}

/* The volume of c whose destination is dest, or -1.  */
static int
volume_index (const struct container *c, const char *dest)
{
  for (size_t i = 0; i < c->nvolumes; i++)
    if (strcmp (c->volumes[i], dest) == 0)
      return (int) i;
  return -1;
}

/* The path of f below volume dest, or NULL if f is not in it.  */
static const char *
in_volume (const struct bridge_file *f, const char *dest)
{
  size_t n = strlen (dest);
  return strncmp (f->path, dest, n) == 0 && f->path[n] == '/' ? f->path + n + 1
                                                              : NULL;
}

/* Writes version `version` of volume i of c from files, laid out as the
   kubelet lays out its own volumes: <dir>/..v<N>/<files>, <dir>/..data ->
   ..v<N>, and each top-level name <dir>/<name> -> ..data/<name>.  A new
   version replaces ..data with one rename: the container sees the old
   content or the new, never a mix.  */
static int
write_volume (struct container *c, size_t i, const struct bridge_file *files,
              size_t nfiles, shim_error **err)
{
  unsigned version = c->volume_versions[i] + 1;
  cleanup_free char *dir = xasprintf ("%s/v%zu", c->dir, i);
  cleanup_free char *vdir = xasprintf ("%s/..v%u", dir, version);
  remove_tree (vdir);
  if (mkdir_p (vdir, 0755, err) < 0)
    return -1;
  for (size_t f = 0; f < nfiles; f++)
    {
      const char *rel = in_volume (&files[f], c->volumes[i]);
      if (rel == NULL)
        continue;
      if (!path_is_plain (rel) || strncmp (rel, "..", 2) == 0)
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "volume %s: file %s is not a plain path",
                               c->volumes[i], rel);
      cleanup_free char *path = xasprintf ("%s/%s", vdir, rel);
      cleanup_free char *parent = xstrdup (path);
      *strrchr (parent, '/') = '\0';
      if (mkdir_p (parent, 0755, err) < 0
          || write_file_atomic (path, files[f].content, files[f].len, err) < 0)
        return -1;
      chmod (path, files[f].mode ? files[f].mode : 0644);
      cleanup_free char *top = xstrndup (rel, strcspn (rel, "/"));
      cleanup_free char *link = xasprintf ("%s/%s", dir, top);
      cleanup_free char *target = xasprintf ("..data/%s", top);
      if (symlink (target, link) < 0 && errno != EEXIST)
        return shim_error_errno (err, GRPC_INTERNAL, errno, "symlink %s",
                                 link);
    }
  cleanup_free char *tmp = xasprintf ("%s/..data_tmp", dir);
  cleanup_free char *data = xasprintf ("%s/..data", dir);
  cleanup_free char *name = xasprintf ("..v%u", version);
  unlink (tmp);
  if (symlink (name, tmp) < 0 || rename (tmp, data) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "switch %s", data);
  c->volume_versions[i] = version;
  /* What the old version had and the new has not goes.  */
  cleanup_free char *old = xasprintf ("%s/..v%u", dir, version - 1);
  remove_tree (old);
  DIR *d = opendir (dir);
  struct dirent *de;
  while (d != NULL && (de = readdir (d)) != NULL)
    {
      if (strncmp (de->d_name, "..", 2) == 0 || strcmp (de->d_name, ".") == 0)
        continue;
      cleanup_free char *now = xasprintf ("%s/%s", vdir, de->d_name);
      struct stat st;
      if (lstat (now, &st) < 0)
        unlinkat (dirfd (d), de->d_name, 0);
    }
  if (d != NULL)
    closedir (d);
  return 0;
}

int
container_volume_update (struct container *c, const struct bridge_request *req,
                         shim_error **err)
{
  int i = volume_index (c, req->volumes[0]);
  if (i < 0)
    return shim_error_set (err, GRPC_NOT_FOUND,
                           "container %s has no volume at %s", c->id,
                           req->volumes[0]);
  if (write_volume (c, (size_t) i, req->files, req->nfiles, err) < 0)
    return shim_error_wrap (err, "update volume %s of %s", req->volumes[0],
                            c->id);
  agent_log (L_INFO, "volume updated", "container", c->id, "volume",
             req->volumes[0]);
  return 0;
}

void
container_termination_message (const struct container *c, strbuf *out)
{
  if (c->termination_log == NULL)
    return;
  for (size_t i = 0; i < c->nfiles; i++)
    if (strcmp (c->files[i].path, c->termination_log) == 0)
      {
        char buf[CONTAINER_TERMINATION_MESSAGE_MAX];
        int fd = open (c->files[i].content, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf) : -1;
        if (fd >= 0)
          close (fd);
        if (n > 0)
          strbuf_json_string (out, buf, (size_t) n);
      }
}

static int
write_pod_files (struct container *c, const struct bridge_request *req,
                 shim_error **err)
{
  cleanup_free char *dir = xasprintf ("%s/files", c->dir);
  if (mkdir_p (dir, 0755, err) < 0)
    return -1;
  c->nvolumes = req->nvolumes;
  c->volumes = xzalloc ((req->nvolumes + 1) * sizeof *c->volumes);
  c->volume_versions
      = xzalloc ((req->nvolumes + 1) * sizeof *c->volume_versions);
  for (size_t i = 0; i < req->nvolumes; i++)
    {
      c->volumes[i] = xstrdup (req->volumes[i]);
      if (write_volume (c, i, req->files, req->nfiles, err) < 0)
        return -1;
    }
  c->bound_dirs = xzalloc ((req->nempty_dirs + req->nshares + 1)
                           * sizeof *c->bound_dirs);
  for (size_t i = 0; i < req->nempty_dirs; i++)
    {
      struct bridge_empty_dir *d = &c->bound_dirs[c->nbound_dirs++];
      d->path = xstrdup (req->empty_dirs[i].path);
      d->name = xasprintf (EMPTY_DIRS "/%s", req->empty_dirs[i].name);
      if (mkdir_p (d->name, 0777, err) < 0
          || cap_empty_dir (d->name, req->empty_dirs[i].size, err) < 0)
        return -1;
      chmod (d->name, 0777); /* as the kubelet makes it */
    }
  for (size_t i = 0; i < req->nshares; i++)
    {
      struct bridge_empty_dir *d = &c->bound_dirs[c->nbound_dirs++];
      d->path = xstrdup (req->shares[i].path);
      d->name = xstrdup (req->shares[i].name);
      struct stat st;
      if (lstat (d->name, &st) < 0)
        return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno,
                                 "host share %s for %s is not in the VM",
                                 d->name, d->path);
    }
  if (req->termination_log != NULL)
    c->termination_log = xstrdup (req->termination_log);
  c->files = xzalloc ((req->nfiles + 1) * sizeof *c->files);
  for (size_t i = 0; i < req->nfiles; i++)
    {
      bool in_a_volume = false;
      for (size_t v = 0; v < req->nvolumes; v++)
        in_a_volume |= in_volume (&req->files[i], req->volumes[v]) != NULL;
      if (in_a_volume)
        continue;
      cleanup_free char *path = xasprintf ("%s/%zu", dir, i);
      if (write_file_atomic (path, req->files[i].content, req->files[i].len,
                             err)
          < 0)
        return -1;
      chmod (path, 0644);
      c->files[c->nfiles].path = xstrdup (req->files[i].path);
      c->files[c->nfiles++].content = xstrdup (path);
    }
  return 0;
}

/* The devices cgroup of the spec's rules, before anything runs in it (or
   replacing the program at Update).  */
static int
restrict_devices (const struct oci_spec *spec, const char *cgroup,
                  shim_error **err)
{
  struct device_rule *rules = NULL;
  size_t nrules = 0;
  cleanup_strbuf strbuf bad = STRBUF_INIT;
  if (device_rules_from_spec (spec, &rules, &nrules, &bad) < 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "devices: %s",
                           bad.data);
  struct bpf_insn *prog = xmalloc (DEVICE_FILTER_MAX_INSNS * sizeof *prog);
  size_t n = device_filter_build (rules, nrules, prog);
  int r = device_filter_attach (cgroup, prog, n);
  free (prog);
  free (rules);
  if (r < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "attach the devices filter to %s", cgroup);
  return 0;
}

/* linux.resources written into the container's cgroup.  */
static int
apply_resources (const struct container *c, const struct oci_resources *r,
                 shim_error **err)
{
  struct cgroup_plan plan;
  cleanup_strbuf strbuf bad = STRBUF_INIT;
  const char *failed;
  if (cgroup_plan_build (r, &plan, &bad) < 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "%s", bad.data);
  if (cgroup_plan_apply (c->cgroup, &plan, &failed) < 0)
    return shim_error_errno (err, GRPC_INVALID_ARGUMENT, errno, "cgroup %s/%s",
                             c->cgroup, failed);
  return 0;
}

int
guest_set_time (uint64_t unix_ns, shim_error **err)
{
  struct timespec ts
      = { (time_t) (unix_ns / 1000000000u), (long) (unix_ns % 1000000000u) };
  if (clock_settime (CLOCK_REALTIME, &ts) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "settime");
  agent_log (L_INFO, "wall clock set by the host");
  return 0;
}

int
containers_network (const char *config, size_t len, shim_error **err)
{
  struct network_config net;
  if (network_config_parse (config, len, &net, err) < 0
      || network_config_apply (&net, err) < 0)
    return -1;
  agent_log (L_INFO, "the pod's network is configured");
  return 0;
}

int
container_update (struct container *c, const char *resources, size_t len,
                  shim_error **err)
{
  struct oci_spec *update = NULL;
  if (oci_resources_parse (resources, len, &update, err) < 0)
    return -1;
  int r = 0;
  if (update->ndevice_rules > 0)
    {
      /* The update's rules with the nodes the container was made with.  */
      struct oci_spec merged = *c->spec;
      merged.device_rules = update->device_rules;
      merged.ndevice_rules = update->ndevice_rules;
      r = restrict_devices (&merged, c->cgroup, err);
    }
  if (r == 0)
    r = apply_resources (c, &update->resources, err);
  oci_spec_free (update);
  return r < 0 ? shim_error_wrap (err, "update container %s", c->id) : 0;
}

int
container_create (const struct bridge_request *req, struct container **out,
                  shim_error **err)
{
  struct container *c = xzalloc (sizeof *c);
  c->id = xstrdup (req->container);
  c->dir = xasprintf (CONTAINERS_DIR "/%s", req->container);
  c->rootfs = xasprintf ("%s/rootfs", c->dir);
  c->cgroup = xasprintf (CGROUP_ROOT "/%s", req->container);
  cleanup_free char *scratch = xasprintf ("%s/scratch", c->dir);
  cleanup_free char *upper = xasprintf ("%s/upper", scratch);
  cleanup_free char *work = xasprintf ("%s/work", scratch);
  cleanup_free char *opts = NULL;
  cleanup_free char *scratch_opts = NULL;
  strbuf lower = STRBUF_INIT;
  if (oci_spec_parse (req->spec, req->spec_len, &c->spec, err) < 0)
    goto fail;
  c->pod_hostname = req->pod_hostname ? xstrdup (req->pod_hostname) : NULL;
  if (c->spec->process == NULL || c->spec->process->nargs == 0)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT, "spec has no process args");
      goto fail;
    }
  if (mkdir (c->dir, 0700) < 0)
    {
      shim_error_errno (err,
                        errno == EEXIST ? GRPC_ALREADY_EXISTS : GRPC_INTERNAL,
                        errno, "container %s", c->id);
      free (c->dir);
      c->dir = NULL; /* not ours to remove */
      goto fail;
    }
  for (size_t i = 0; i < req->nlayers; i++)
    {
      if (layer_mount (req->layers[i], err) < 0)
        goto fail;
      strbuf_printf (&lower, i ? ":" LAYERS_DIR "/%u" : LAYERS_DIR "/%u",
                     req->layers[i]);
    }
  /* The writable layer: a tmpfs with a cap, so that a container that
     writes too much gets ENOSPC, not the guest's memory.  */
  scratch_opts = xasprintf ("mode=0755,size=%um", req->scratch_mb);
  if (mkdir_p (scratch, 0755, err) < 0 || mkdir_p (c->rootfs, 0755, err) < 0
      || mount_or_fail ("tmpfs", scratch, "tmpfs", MS_NOSUID, scratch_opts,
                        err)
             < 0)
    goto fail;
  c->mounted_scratch = true;
  opts = xasprintf ("lowerdir=%s,upperdir=%s,workdir=%s", lower.data, upper,
                    work);
  if (mkdir_p (upper, 0755, err) < 0 || mkdir_p (work, 0755, err) < 0
      || mount_or_fail ("overlay", c->rootfs, "overlay", 0, opts, err) < 0)
    goto fail;
  c->mounted_rootfs = true;
  if (write_pod_files (c, req, err) < 0)
    goto fail;
  if (mkdir (c->cgroup, 0755) < 0 && errno != EEXIST)
    {
      shim_error_errno (err, GRPC_INTERNAL, errno, "cgroup %s", c->cgroup);
      goto fail;
    }
  if (restrict_devices (c->spec, c->cgroup, err) < 0
      || apply_resources (c, &c->spec->resources, err) < 0)
    goto fail;
  agent_log (L_INFO, "container root filesystem mounted", "container", c->id,
             "layers", lower.data);
  strbuf_release (&lower);
  *out = c;
  return 0;
fail:
  strbuf_release (&lower);
  shim_error_wrap (err, "create container %s", req->container);
  container_destroy (c);
  return -1;
}

/* The spec names the pod's namespace of that type (the host lets a spec
   name no other: policy/namespace_policy.h).  */
static bool
in_pod_namespace (const struct container *c, const char *type)
{
  const struct oci_namespace *ns = oci_spec_namespace (c->spec, type);
  return ns != NULL && ns->path != NULL;
}

/* ---- in the forked child ---------------------------------------------- */

/* A child's setup error goes to the status pipe and ends it.  */
static __attribute__ ((noreturn)) void
child_fail (int status_fd, const char *what)
{
  char msg[1024];
  int n = snprintf (msg, sizeof msg, "%s: %s", what, strerror (errno));
  write_all (status_fd, msg, (size_t) (n < 0 ? 0 : n));
  _exit (127);
}

static const char *
pod_file (const struct container *c, const char *destination)
{
  for (size_t i = 0; i < c->nfiles; i++)
    if (strcmp (c->files[i].path, destination) == 0)
      return c->files[i].content;
  return NULL;
}

/* The guest directory behind a volume, emptyDir or host share destination
   (a share may be a file), or NULL.  */
static const char *
pod_dir (const struct container *c, const char *destination)
{
  static char path[PATH_MAX];
  int v = volume_index (c, destination);
  if (v >= 0)
    {
      snprintf (path, sizeof path, "%s/v%d", c->dir, v);
      return path;
    }
  for (size_t i = 0; i < c->nbound_dirs; i++)
    if (strcmp (c->bound_dirs[i].path, destination) == 0)
      return c->bound_dirs[i].name;
  return NULL;
}

/* mount(2) onto dest, a path in the container resolved within its root
   (root: an fd of it), the mount point made as a file when file; a bind
   asked read-only is remounted so through a fresh lookup (the first fd
   names what lies beneath the new mount).  */
static int
mount_in_root (int root, const char *dest, bool file, const char *src,
               const char *type, unsigned long flags, const char *data,
               bool readonly_bind)
{
  char at[32];
  int target = rootfs_path_mount_point (root, dest, file);
  if (target < 0)
    return -1;
  snprintf (at, sizeof at, "/proc/self/fd/%d", target);
  int r = mount (src, at, type, flags, data);
  close (target);
  if (r < 0 || !readonly_bind)
    return r;
  target = rootfs_path_mount_point (root, dest, file);
  if (target < 0)
    return -1;
  snprintf (at, sizeof at, "/proc/self/fd/%d", target);
  r = mount (NULL, at, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
  close (target);
  return r;
}

static void
mount_spec (const struct container *c, int root, int status_fd)
{
  for (size_t i = 0; i < c->spec->nmounts; i++)
    {
      const struct oci_mount *m = &c->spec->mounts[i];
      if (m->destination == NULL || m->destination[0] != '/')
        continue;
      cleanup_strbuf strbuf data = STRBUF_INIT;
      unsigned long flags
          = mount_options_parse (m->options, m->noptions, &data);
      bool ro = (flags & MS_RDONLY) != 0;
      const char *type = m->type ? m->type : "";
      const char *file = pod_file (c, m->destination);
      const char *dir = pod_dir (c, m->destination);
      const char *dest = m->destination;
      int r;
      struct stat dir_st;
      if (dir != NULL)
        /* A host share may be a file (a hostPath of type File).  */
        r = mount_in_root (
            root, dest, stat (dir, &dir_st) == 0 && !S_ISDIR (dir_st.st_mode),
            dir, NULL, MS_BIND | MS_REC, NULL, ro);
      else if (file != NULL)
        r = mount_in_root (root, dest, true, file, NULL, MS_BIND, NULL, ro);
      else if ((flags & MS_BIND) || strcmp (type, "bind") == 0)
        {
          /* Only /dev/shm is known without a share: it is the pod's
             shared memory, a tmpfs in the guest.  */
          if (strcmp (dest, "/dev/shm") != 0)
            {
              errno = EINVAL;
              cleanup_free char *what = xasprintf (
                  "bind mount %s: the UVM has no directory share", dest);
              child_fail (status_fd, what);
            }
          r = mount_in_root (root, dest, false, "shm", "tmpfs",
                             MS_NOSUID | MS_NODEV | MS_NOEXEC,
                             "mode=1777,size=65536k", false);
        }
      else
        {
          /* The guest has the unified hierarchy only.  */
          bool cgroup = strcmp (type, "cgroup") == 0;
          r = mount_in_root (root, dest, false, cgroup ? "cgroup2" : m->source,
                             cgroup ? "cgroup2" : type, flags & ~MS_REC,
                             cgroup ? NULL : (data.len ? data.data : NULL),
                             false);
        }
      if (r < 0)
        {
          char what[512];
          snprintf (what, sizeof what, "mount %s", dest);
          child_fail (status_fd, what);
        }
    }
}

/* A device node at path in the container (resolved within root),
   replacing what the image has there, with its mode and owner.  */
static int
make_node (int root, const char *path, mode_t mode, dev_t dev, uid_t uid,
           gid_t gid)
{
  char *last = NULL;
  int parent = rootfs_path_parent (root, path, &last);
  if (parent < 0)
    return -1;
  unlinkat (parent, last, 0);
  int r = mknodat (parent, last, mode, dev) < 0
                  || fchownat (parent, last, uid, gid, AT_SYMLINK_NOFOLLOW) < 0
                  || fchmodat (parent, last, mode & 07777, 0) < 0
              ? -1
              : 0;
  int e = errno;
  close (parent);
  free (last);
  errno = e;
  return r;
}

/* linux.devices: each node made (replacing what the image has there) with
   its mode and owner.  */
static void
make_spec_devices (const struct container *c, int root, int status_fd)
{
  for (size_t i = 0; i < c->spec->nlinux_devices; i++)
    {
      const struct oci_linux_device *d = &c->spec->linux_devices[i];
      mode_t type = d->type[0] == 'b'   ? S_IFBLK
                    : d->type[0] == 'p' ? S_IFIFO
                                        : S_IFCHR;
      mode_t perm = d->has_file_mode ? d->file_mode & 07777 : 0666;
      if (make_node (root, d->path, type | perm, makedev (d->major, d->minor),
                     d->uid, d->gid)
          < 0)
        child_fail (status_fd, d->path);
    }
}

/* The devices every container has, as runc makes them.  */
static void
make_devices (int root)
{
  static const struct
  {
    const char *path;
    unsigned maj, min;
  } devs[] = { { "/dev/null", 1, 3 },    { "/dev/zero", 1, 5 },
               { "/dev/full", 1, 7 },    { "/dev/random", 1, 8 },
               { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 } };
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
    make_node (root, devs[i].path, S_IFCHR | 0666,
               makedev (devs[i].maj, devs[i].min), 0, 0);
  static const char *const links[][2] = { { "/proc/self/fd", "/dev/fd" },
                                          { "/proc/self/fd/0", "/dev/stdin" },
                                          { "/proc/self/fd/1", "/dev/stdout" },
                                          { "/proc/self/fd/2", "/dev/stderr" },
                                          { "pts/ptmx", "/dev/ptmx" } };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    {
      char *last = NULL;
      int parent = rootfs_path_parent (root, links[i][1], &last);
      if (parent < 0)
        continue;
      if (symlinkat (links[i][0], parent, last) < 0 && errno == EEXIST
          && strcmp (last, "ptmx") == 0)
        {
          unlinkat (parent, last, 0);
          symlinkat (links[i][0], parent, last);
        }
      close (parent);
      free (last);
    }
}

/* Becomes the container's root: pivot_root where the guest's own root
   allows it, else (an initramfs root) move the mount onto / and chroot.  */
static void
enter_root (const char *rootfs, bool readonly, int status_fd)
{
  if (chdir (rootfs) < 0)
    child_fail (status_fd, "chdir to the root filesystem");
  if (syscall (SYS_pivot_root, ".", ".") == 0)
    {
      if (umount2 (".", MNT_DETACH) < 0)
        child_fail (status_fd, "detach the old root");
    }
  else if (mount (rootfs, "/", NULL, MS_MOVE, NULL) < 0 || chroot (".") < 0)
    child_fail (status_fd, "enter the root filesystem");
  if (chdir ("/") < 0)
    child_fail (status_fd, "chdir /");
  if (readonly
      && mount (NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    child_fail (status_fd, "make the root read-only");
}

/* The spec's masked paths hidden (a directory under an empty read-only
   tmpfs, a file under /dev/null) and its read-only paths remounted
   read-only, inside the new root, as runc does; a path the guest does not
   have is skipped, as there.  */
static void
protect_paths (const struct oci_spec *s, int status_fd)
{
  for (size_t i = 0; i < s->nmasked_paths; i++)
    {
      const char *path = s->masked_paths[i];
      struct stat st;
      if (stat (path, &st) < 0)
        {
          if (errno == ENOENT)
            continue;
          child_fail (status_fd, path);
        }
      if ((S_ISDIR (st.st_mode)
               ? mount ("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
               : mount ("/dev/null", path, NULL, MS_BIND, NULL))
          < 0)
        child_fail (status_fd, path);
    }
  for (size_t i = 0; i < s->nreadonly_paths; i++)
    {
      const char *path = s->readonly_paths[i];
      if (mount (path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        {
          if (errno == ENOENT)
            continue;
          child_fail (status_fd, path);
        }
      /* The remount keeps the flags the mount had.  */
      struct statvfs sv;
      unsigned long keep = 0;
      if (statvfs (path, &sv) == 0)
        keep = (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0)
               | (sv.f_flag & ST_NODEV ? MS_NODEV : 0)
               | (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
      if (mount (path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep,
                 NULL)
          < 0)
        child_fail (status_fd, path);
    }
}

static const struct
{
  const char *name;
  int resource;
} rlimit_names[] = {
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_STACK", RLIMIT_STACK },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* As runc: without no_new_privs the filter goes in while the process may
   still load one (CAP_SYS_ADMIN), else last, so that it needs to allow
   only what follows.  */
static void
apply_process (const struct oci_process *p, const struct capability_plan *caps,
               unsigned last_cap, const struct oci_seccomp *seccomp,
               int status_fd)
{
  if (p->has_oom_score_adj)
    {
      char adj[16];
      snprintf (adj, sizeof adj, "%d", p->oom_score_adj);
      if (write_text ("/proc/self/oom_score_adj", adj) < 0)
        child_fail (status_fd, "set the OOM score adjustment");
    }
  for (size_t i = 0; i < p->nrlimits; i++)
    {
      size_t k = 0;
      while (k < sizeof rlimit_names / sizeof rlimit_names[0]
             && (p->rlimits[i].type == NULL
                 || strcmp (rlimit_names[k].name, p->rlimits[i].type) != 0))
        k++;
      errno = EINVAL;
      struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
      if (k == sizeof rlimit_names / sizeof rlimit_names[0]
          || setrlimit (rlimit_names[k].resource, &rl) < 0)
        child_fail (status_fd,
                    p->rlimits[i].type ? p->rlimits[i].type : "rlimit");
    }
  if (p->cwd != NULL && chdir (p->cwd) < 0)
    child_fail (status_fd, p->cwd);
  if (seccomp != NULL && !p->no_new_privileges
      && seccomp_profile_load (seccomp) < 0)
    child_fail (status_fd, "load the seccomp filter");
  if (capability_plan_apply_before_user (caps, last_cap) < 0)
    child_fail (status_fd, "drop the bounding capabilities");
  if (setgroups (p->nadditional_gids, p->additional_gids) < 0
      || setgid (p->gid) < 0 || setuid (p->uid) < 0)
    child_fail (status_fd, "set the user");
  if (capability_plan_apply_after_user (caps) < 0)
    child_fail (status_fd, "set the capabilities");
  if (p->no_new_privileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    child_fail (status_fd, "set no_new_privs");
  if (seccomp != NULL && p->no_new_privileges
      && seccomp_profile_load (seccomp) < 0)
    child_fail (status_fd, "load the seccomp filter");
  clearenv ();
  for (size_t i = 0; i < p->nenv; i++)
    putenv (p->env[i]);
}

/* Joins the namespaces and root of the container's init.  */
static void
join_container (pid_t init, int status_fd)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/root", init);
  int root = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    child_fail (status_fd, "the container's init is gone");
  static const struct
  {
    const char *ns;
    int type;
  } nss[] = { { "ipc", CLONE_NEWIPC },
              { "uts", CLONE_NEWUTS },
              { "cgroup", CLONE_NEWCGROUP },
              { "mnt", CLONE_NEWNS } };
  for (size_t i = 0; i < sizeof nss / sizeof nss[0]; i++)
    {
      snprintf (path, sizeof path, "/proc/%d/ns/%s", init, nss[i].ns);
      int fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns (fd, nss[i].type) < 0)
        child_fail (status_fd, path);
      close (fd);
    }
  if (fchdir (root) < 0 || chroot (".") < 0 || chdir ("/") < 0)
    child_fail (status_fd, "enter the container's root");
  close (root);
}

/* A terminal's master goes to the agent over the console socket.  */
static int
send_fd (int sock, int fd)
{
  char byte = 0;
  return fd_pass_send (sock, &byte, 1, fd) == 1 ? 0 : -1;
}

/* The fd sent by send_fd, or -1 (the child failed before sending).  */
static int
recv_fd (int sock)
{
  char byte;
  struct iovec iov = { &byte, 1 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf };
  ssize_t n;
  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  struct cmsghdr *cm = n == 1 ? CMSG_FIRSTHDR (&msg) : NULL;
  if (cm == NULL || cm->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd;
  memcpy (&fd, CMSG_DATA (cm), sizeof fd);
  return fd;
}

/* The process's terminal comes from the container's own devpts, as runc
   makes it, so that its name resolves inside (tty, ttyname); the master
   goes to the agent.  */
static void
take_terminal (int console_fd, int status_fd)
{
  int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  const char *slave = NULL;
  if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0
      || (slave = ptsname (master)) == NULL)
    child_fail (status_fd, "allocate a terminal (a devpts at /dev/pts?)");
  int s = open (slave, O_RDWR);
  if (s < 0 || ioctl (s, TIOCSCTTY, 0) < 0)
    child_fail (status_fd, "open the terminal");
  if (send_fd (console_fd, master) < 0)
    child_fail (status_fd, "pass the terminal to the agent");
  close (master);
  close (console_fd);
  dup2 (s, 0), dup2 (s, 1), dup2 (s, 2);
  if (s > 2)
    close (s);
}

static __attribute__ ((noreturn)) void
child_main (struct container *c, const struct oci_process *p,
            const struct capability_plan *caps, unsigned last_cap, bool init,
            int console_fd, const int stdio[3], int start_fd, int status_fd)
{
  sigset_t all;
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  signal (SIGPIPE, SIG_DFL);
  setsid ();
  if (console_fd < 0)
    dup2 (stdio[0], 0), dup2 (stdio[1], 1), dup2 (stdio[2], 2);
  cleanup_free char *procs = xasprintf ("%s/cgroup.procs", c->cgroup);
  if (write_text (procs, "0") < 0)
    child_fail (status_fd, "join the container's cgroup");
  if (init)
    {
      int flags
          = CLONE_NEWNS
            | (oci_spec_namespace (c->spec, "cgroup") ? CLONE_NEWCGROUP : 0);
      /* The pod's UTS and IPC namespaces when the spec names them, else
         new ones.  */
      static const struct
      {
        const char *type;
        enum pod_ns pod;
        int flag;
      } shareable[] = { { "uts", POD_NS_UTS, CLONE_NEWUTS },
                        { "ipc", POD_NS_IPC, CLONE_NEWIPC } };
      for (size_t i = 0; i < sizeof shareable / sizeof shareable[0]; i++)
        if (!in_pod_namespace (c, shareable[i].type))
          flags |= shareable[i].flag;
        else if (setns (pod_namespace_fd (shareable[i].pod), shareable[i].flag)
                 < 0)
          child_fail (status_fd, "join the pod's namespaces");
      if (unshare (flags) < 0
          || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail (status_fd, "new namespaces");
      if (c->spec->hostname != NULL
          && sethostname (c->spec->hostname, strlen (c->spec->hostname)) < 0)
        child_fail (status_fd, "set the hostname");
      int root = open (c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root < 0)
        child_fail (status_fd, "open the root filesystem");
      mount_spec (c, root, status_fd);
      make_devices (root);
      make_spec_devices (c, root, status_fd);
      close (root);
      enter_root (c->rootfs, c->spec->root_readonly, status_fd);
      /* As runc: the sysctls before /proc/sys is made read-only.  */
      const char *key;
      if (sysctl_apply (c->spec, &key) < 0)
        child_fail (status_fd, key);
      protect_paths (c->spec, status_fd);
    }
  else
    join_container (c->init_pid, status_fd);
  if (console_fd >= 0)
    take_terminal (console_fd, status_fd);
  apply_process (p, caps, last_cap, c->spec->seccomp, status_fd);
  /* Ready; wait for start (EOF: the process is being deleted).  */
  char b = 0;
  write_all (status_fd, &b, 1);
  if (read (start_fd, &b, 1) != 1)
    _exit (0);
  execvp (p->args[0], p->args);
  child_fail (status_fd, p->args[0]);
}

/* ---- in the agent ------------------------------------------------------- */

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

int
container_spawn (struct container *c, const struct oci_process *p,
                 struct held_process *out, shim_error **err)
{
  bool init = p == NULL;
  if (init)
    p = c->spec->process;
  if (!init && c->init_pid == 0)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "container %s has no running init process", c->id);
  if (p->nargs == 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "process has no args");
  /* Refused before anything starts, naming every capability at fault.  */
  struct capability_plan caps;
  unsigned last_cap = capability_last_cap ();
  strbuf bad = STRBUF_INIT;
  if (capability_plan_build (p, last_cap, &caps, &bad) < 0)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT, "process.capabilities: %s",
                      bad.data);
      strbuf_release (&bad);
      return -1;
    }
  if (init && sysctl_check (c->spec, &bad) < 0)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT, "linux.sysctl: %s",
                      bad.data);
      strbuf_release (&bad);
      return -1;
    }
  if (c->spec->seccomp != NULL
      && seccomp_profile_check (c->spec->seccomp, &bad) < 0)
    {
      shim_error_set (err, GRPC_INVALID_ARGUMENT, "linux.seccomp: %s",
                      bad.data);
      strbuf_release (&bad);
      return -1;
    }
  if (init
      && (in_pod_namespace (c, "pid") || in_pod_namespace (c, "uts")
          || in_pod_namespace (c, "ipc"))
      && pod_namespaces_ensure (c->pod_hostname, err) < 0)
    return -1;

  *out = (struct held_process){ .pid = -1,
                                .stdin_fd = -1,
                                .stdout_fd = -1,
                                .stderr_fd = -1,
                                .start_fd = -1,
                                .status_fd = -1,
                                .tty = p->terminal };
  int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 };
  int start[2] = { -1, -1 }, status[2] = { -1, -1 };
  int console[2] = { -1, -1 };
  int master = -1;
  int ok = pipe2 (start, O_CLOEXEC) == 0 && pipe2 (status, O_CLOEXEC) == 0;
  if (ok && p->terminal)
    ok = socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) == 0;
  else if (ok)
    ok = pipe2 (in, O_CLOEXEC) == 0 && pipe2 (o, O_CLOEXEC) == 0
         && pipe2 (e, O_CLOEXEC) == 0;
  /* The init is born in a new PID namespace or the pod's, an exec in its
     container's.  */
  enum pid_ns_kind ns_kind = !init                         ? PID_NS_OF_PROCESS
                             : in_pod_namespace (c, "pid") ? PID_NS_POD
                                                           : PID_NS_NEW;
  if (ok && pid_ns_prepare (ns_kind, c->init_pid) < 0)
    {
      shim_error_errno (err, GRPC_INTERNAL, errno, "enter the PID namespace");
      pid_ns_restore ();
      ok = false;
    }
  pid_t pid = ok ? fork () : -1;
  if (ok)
    pid_ns_restore ();
  if (pid == 0)
    {
      int stdio[3] = { in[0], o[1], e[1] };
      close (start[1]);
      close (status[0]);
      close (console[0]);
      child_main (c, p, &caps, last_cap, init, console[1], stdio, start[0],
                  status[1]);
    }
  int saved = errno;
  close_fd (&in[0]), close_fd (&o[1]), close_fd (&e[1]);
  close_fd (&start[0]), close_fd (&status[1]), close_fd (&console[1]);
  /* A terminal's master arrives first, unless the setup failed before.  */
  if (pid > 0 && console[0] >= 0)
    master = recv_fd (console[0]);
  close_fd (&console[0]);
  out->pid = pid;
  out->start_fd = start[1];
  out->status_fd = status[0];
  out->stdin_fd = master >= 0 ? master : in[1];
  out->stdout_fd = master >= 0 ? master : o[0];
  out->stderr_fd = e[0];
  if (pid < 0)
    {
      errno = saved;
      if (*err == NULL)
        shim_error_errno (err, GRPC_INTERNAL, errno, "fork %s", p->args[0]);
      goto fail;
    }
  /* The child reports ready (one NUL byte) or why its setup failed.  */
  char msg[1024];
  ssize_t n;
  do
    n = read (out->status_fd, msg, sizeof msg - 1);
  while (n < 0 && errno == EINTR);
  if (n == 1 && msg[0] == '\0')
    {
      if (init)
        c->init_pid = pid;
      return 0;
    }
  msg[n > 0 ? n : 0] = '\0';
  shim_error_set (err, GRPC_FAILED_PRECONDITION, "set up %s: %s", p->args[0],
                  n > 0 ? msg : "the process died");
fail:
  /* The agent reaps a failed child with the others (it is not reported:
     no process record holds its pid).  */
  close_fd (&out->start_fd), close_fd (&out->status_fd);
  if (master < 0)
    close_fd (&out->stdin_fd), close_fd (&out->stdout_fd);
  else
    close_fd (&master);
  close_fd (&out->stderr_fd);
  out->stdin_fd = out->stdout_fd = -1;
  return -1;
}

static unsigned long long
read_number_field (const char *path, const char *key)
{
  FILE *f = fopen (path, "re");
  unsigned long long v = 0;
  if (f == NULL)
    return 0;
  char line[256];
  size_t klen = key ? strlen (key) : 0;
  while (fgets (line, sizeof line, f))
    if (key == NULL || (strncmp (line, key, klen) == 0 && line[klen] == ' '))
      {
        v = strtoull (line + (key ? klen + 1 : 0), NULL, 10);
        break;
      }
  fclose (f);
  return v;
}

/* The pids in the container's cgroup; returns how many.  */
static size_t
container_pids (const struct container *c, long **out)
{
  cleanup_free char *procs = xasprintf ("%s/cgroup.procs", c->cgroup);
  size_t n = 0, cap = 16;
  *out = xmalloc (cap * sizeof **out);
  FILE *f = fopen (procs, "re");
  long pid;
  /* NOLINTNEXTLINE(cert-err34-c): the kernel's own format */
  while (f != NULL && fscanf (f, "%ld", &pid) == 1)
    {
      if (n == cap)
        *out = xrealloc (*out, (cap *= 2) * sizeof **out);
      (*out)[n++] = pid;
    }
  if (f != NULL)
    fclose (f);
  return n;
}

void
container_stats (const struct container *c, strbuf *out)
{
  cleanup_free char *cpu = xasprintf ("%s/cpu.stat", c->cgroup);
  cleanup_free char *mem = xasprintf ("%s/memory.current", c->cgroup);
  cleanup_free char *max = xasprintf ("%s/memory.max", c->cgroup);
  strbuf_printf (out,
                 "{\"type\":\"stats\",\"cpu_ns\":%llu,\"memory_bytes\":%llu,"
                 "\"memory_limit\":%llu,\"pids\":[",
                 read_number_field (cpu, "usage_usec") * 1000ull,
                 read_number_field (mem, NULL), read_number_field (max, NULL));
  cleanup_free long *pids = NULL;
  size_t n = container_pids (c, &pids);
  for (size_t i = 0; i < n; i++)
    strbuf_printf (out, "%s%ld", i ? "," : "", pids[i]);
  strbuf_puts (out, "]}");
}

void
container_signal_all (const struct container *c, int sig)
{
  cleanup_free long *pids = NULL;
  size_t n = container_pids (c, &pids);
  for (size_t i = 0; i < n; i++)
    kill ((pid_t) pids[i], sig);
}

static bool
cgroup_empty (const char *cgroup)
{
  cleanup_free char *events = xasprintf ("%s/cgroup.events", cgroup);
  return read_number_field (events, "populated") == 0;
}

void
container_destroy (struct container *c)
{
  if (c == NULL)
    return;
  struct stat st;
  if (c->cgroup != NULL && stat (c->cgroup, &st) == 0)
    {
      cleanup_free char *kill_file = xasprintf ("%s/cgroup.kill", c->cgroup);
      write_text (kill_file, "1");
      for (int i = 0; i < 100 && !cgroup_empty (c->cgroup); i++)
        sleep_ms (10);
      if (rmdir (c->cgroup) < 0)
        agent_log (L_WARN, "cannot remove a container cgroup", "cgroup",
                   c->cgroup, "error", strerror (errno));
    }
  cleanup_free char *scratch = xasprintf ("%s/scratch", c->dir);
  if (c->mounted_rootfs)
    umount2 (c->rootfs, MNT_DETACH);
  if (c->mounted_scratch)
    umount2 (scratch, MNT_DETACH);
  if (c->dir != NULL)
    remove_tree (c->dir);
  for (size_t i = 0; i < c->nfiles; i++)
    {
      free (c->files[i].path);
      free (c->files[i].content);
    }
  free (c->files);
  for (size_t i = 0; i < c->nvolumes; i++)
    free (c->volumes[i]);
  free (c->volumes);
  free (c->volume_versions);
  for (size_t i = 0; i < c->nbound_dirs; i++)
    {
      free (c->bound_dirs[i].path);
      free (c->bound_dirs[i].name);
    }
  free (c->bound_dirs);
  free (c->termination_log);
  oci_spec_free (c->spec);
  free (c->cgroup);
  free (c->rootfs);
  free (c->dir);
  free (c->id);
  free (c);
}
