/* A container's life in the guest: the agent's setup, Create (its
   directories, root filesystem, pod files, cgroup), signals and the end.
   The other concerns are their own files (container_private.h).  */
#include "container_private.h"

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

void
sleep_ms (long ms)
{
  nanosleep (&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

int
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
  c->pod_sysctls = xzalloc ((req->npod_sysctls + 1) * sizeof *c->pod_sysctls);
  for (; c->npod_sysctls < req->npod_sysctls; c->npod_sysctls++)
    {
      const struct oci_key_value *kv = &req->pod_sysctls[c->npod_sysctls];
      c->pod_sysctls[c->npod_sysctls].key = xstrdup (kv->key);
      c->pod_sysctls[c->npod_sysctls].value = xstrdup (kv->value);
    }
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
  free (c->pod_hostname);
  oci_key_values_free (c->pod_sysctls, c->npod_sysctls);
  oci_spec_free (c->spec);
  free (c->cgroup);
  free (c->rootfs);
  free (c->dir);
  free (c->id);
  free (c);
}
