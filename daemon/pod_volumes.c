#include "pod_volumes.h"
#include "service_record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "pod_file_reader.h"
#include "proto/base/cleanup.h"
#include "proto/base/log.h"
#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "sandbox.h"
#include "task.h"
#include "uvm/uvm.h"

#define VOLUME_UPDATE_TIMEOUT_MS 10000

struct pod_volumes
{
  struct task_service *ts;
  char *container;
  struct pod_file_bind *binds; /* owned strings */
  size_t nbinds;
  /* The create's members, pointing into binds.  */
  const char **volumes;
  size_t nvolumes;
  const char **empty_paths, **empty_names;
  /* Each emptyDir's cap in bytes (0: none; see empty_dir_limit).  */
  uint64_t *empty_sizes;
  size_t nempty;
  const struct pod_file_bind *termination;
  /* Host paths shared into the VM: the binds, and where the guest sees
     each once bound (NULL before).  */
  size_t *shared; /* indexes into binds */
  const char **share_paths;
  char **share_guest;
  size_t nshared;
  /* The volume binds alone (for the sync's reads), and each volume's
     stamp as of the content the guest has.  */
  struct pod_file_bind *volume_binds;
  pod_volume_stamp *stamps;
  struct pod_file_reader *reader; /* a sync's look or read in flight */
};

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

/* The kubelet makes an emptyDir of medium Memory a tmpfs sized by its
   sizeLimit: the guest's directory gets the same cap (0: none, the guest's
   memory bounds it).  A directory opened beneath the pod root (openat2
   takes no O_PATH with the flags it adds): nothing is read.  */
static uint64_t
empty_dir_limit (const struct pod_file_bind *b)
{
  if (b->root == NULL)
    return 0;
  cleanup_close int fd
      = pod_file_open (b->root, b->relative, O_RDONLY | O_DIRECTORY);
  struct statfs st;
  if (fd < 0 || fstatfs (fd, &st) < 0 || st.f_type != TMPFS_MAGIC)
    return 0;
  return (uint64_t) st.f_blocks * (uint64_t) st.f_bsize;
}

struct pod_volumes *
pod_volumes_new (struct task_service *ts, const char *container,
                 const struct pod_file_bind *binds, size_t n)
{
  struct pod_volumes *v = xzalloc (sizeof *v);
  v->ts = ts;
  v->container = xstrdup (container);
  v->nbinds = n;
  v->binds = xzalloc ((n + 1) * sizeof *v->binds);
  v->volumes = xzalloc ((n + 1) * sizeof *v->volumes);
  v->volume_binds = xzalloc ((n + 1) * sizeof *v->volume_binds);
  v->stamps = xzalloc ((n + 1) * sizeof *v->stamps);
  v->empty_paths = xzalloc ((n + 1) * sizeof *v->empty_paths);
  v->empty_names = xzalloc ((n + 1) * sizeof *v->empty_names);
  v->empty_sizes = xzalloc ((n + 1) * sizeof *v->empty_sizes);
  v->shared = xzalloc ((n + 1) * sizeof (size_t));
  v->share_paths = xzalloc ((n + 1) * sizeof *v->share_paths);
  v->share_guest = xzalloc ((n + 1) * sizeof *v->share_guest);
  for (size_t i = 0; i < n; i++)
    {
      struct pod_file_bind *b = &v->binds[i];
      *b = (struct pod_file_bind){ .kind = binds[i].kind,
                                   .destination
                                   = xstrdup (binds[i].destination),
                                   .name = dup_or_null (binds[i].name),
                                   .root = dup_or_null (binds[i].root),
                                   .relative = dup_or_null (binds[i].relative),
                                   .host_source
                                   = dup_or_null (binds[i].host_source),
                                   .options = binds[i].options };
      if (b->kind == POD_CONTENT_VOLUME)
        {
          v->volume_binds[v->nvolumes] = *b;
          v->volumes[v->nvolumes++] = b->destination;
        }
      else if (b->kind == POD_CONTENT_EMPTY_DIR)
        {
          v->empty_paths[v->nempty] = b->destination;
          v->empty_sizes[v->nempty] = empty_dir_limit (b);
          v->empty_names[v->nempty++] = b->name;
        }
      else if (b->kind == POD_CONTENT_TERMINATION_LOG)
        v->termination = b;
      else if (b->kind == POD_CONTENT_NONE)
        {
          v->share_paths[v->nshared] = b->destination;
          v->shared[v->nshared++] = i;
        }
    }
  return v;
}

const struct pod_file_bind *
pod_volumes_binds (const struct pod_volumes *v)
{
  return v->binds;
}

size_t
pod_volumes_bind_count (const struct pod_volumes *v)
{
  return v->nbinds;
}

void
pod_volumes_free (struct pod_volumes *v)
{
  if (v == NULL)
    return;
  pod_file_reader_cancel (v->reader);
  /* A VM gone took its share with it.  */
  struct uvm *u = v->nshared > 0 ? sandbox_uvm (v->ts) : NULL;
  for (size_t i = 0; i < v->nshared; i++)
    {
      if (u != NULL && v->share_guest[i] != NULL)
        uvm_share_unbind (u, v->share_guest[i]);
      free (v->share_guest[i]);
    }
  for (size_t i = 0; i < v->nbinds; i++)
    {
      free ((char *) v->binds[i].destination);
      free ((char *) v->binds[i].name);
      free ((char *) v->binds[i].root);
      free ((char *) v->binds[i].relative);
      free ((char *) v->binds[i].host_source);
    }
  free (v->shared);
  free (v->share_paths);
  free (v->share_guest);
  free (v->binds);
  free (v->volumes);
  free (v->volume_binds);
  free (v->stamps);
  free (v->empty_paths);
  free (v->empty_names);
  free (v->empty_sizes);
  free (v->container);
  free (v);
}

int
pod_volumes_share (struct pod_volumes *v, shim_error **err)
{
  struct uvm *u = sandbox_uvm (v->ts);
  for (size_t i = 0; i < v->nshared; i++)
    {
      const struct pod_file_bind *b = &v->binds[v->shared[i]];
      if (u == NULL
          || uvm_share_bind (u, b->host_source, &b->options,
                             &v->share_guest[i], err)
                 < 0)
        {
          if (u == NULL)
            shim_error_set (err, GRPC_UNAVAILABLE, "the sandbox is gone");
          return shim_error_wrap (err, "host path %s for %s", b->host_source,
                                  b->destination);
        }
    }
  return 0;
}

void
pod_volumes_describe (struct pod_volumes *v, struct bridge_create *bc,
                      const pod_volume_stamp *stamps)
{
  bc->share_paths = v->share_paths;
  bc->share_sources = (const char *const *) v->share_guest;
  bc->nshares = v->nshared;
  bc->volumes = v->volumes;
  bc->nvolumes = v->nvolumes;
  bc->empty_dir_paths = v->empty_paths;
  bc->empty_dir_names = v->empty_names;
  bc->empty_dir_sizes = v->empty_sizes;
  bc->nempty_dirs = v->nempty;
  bc->termination_log = v->termination ? v->termination->destination : NULL;
  for (size_t i = 0, k = 0; i < v->nbinds; i++)
    if (v->binds[i].kind == POD_CONTENT_VOLUME)
      memcpy (v->stamps[k++], stamps[i], sizeof *stamps);
}

int
pod_volumes_write_termination (const struct pod_volumes *v,
                               const char *message, size_t len,
                               shim_error **err)
{
  const struct pod_file_bind *b = v->termination;
  if (b == NULL)
    return 0;
  if (len > POD_TERMINATION_MESSAGE_MAX)
    len = POD_TERMINATION_MESSAGE_MAX;
  cleanup_close int fd
      = pod_file_open (b->root, b->relative, O_WRONLY | O_TRUNC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "termination log %s/%s", b->root, b->relative);
  if (!S_ISREG (st.st_mode))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "termination log %s/%s: not a regular file",
                           b->root, b->relative);
  if (write (fd, message, len) != (ssize_t) len)
    return shim_error_errno (err, GRPC_INTERNAL, errno,
                             "write the termination log %s/%s", b->root,
                             b->relative);
  return 0;
}

/* ---- keeping volumes in sync -------------------------------------------- */

static void
on_update_reply (void *data, const char *body, size_t len,
                 const shim_error *err)
{
  (void) data, (void) body, (void) len;
  if (err != NULL)
    log_warn ("volume update: %s", err->msg);
}

/* The content read after a volume's stamp changed: each volume whose
   stamp differs from the guest's goes to the guest, and its stamp is
   recorded (taken before the content: a change in between is seen at the
   next look, and sent again).  */
static void
on_volumes_read (void *data, const struct bridge_pod_file *files, size_t n,
                 const pod_volume_stamp *stamps, const shim_error *err)
{
  struct pod_volumes *v = data;
  v->reader = NULL;
  struct uvm *u = sandbox_uvm (v->ts);
  if (err != NULL)
    {
      log_warn ("volumes of %s not read again: %s", v->container, err->msg);
      return;
    }
  for (size_t i = 0; u != NULL && i < v->nvolumes; i++)
    {
      if (memcmp (stamps[i], v->stamps[i], sizeof *stamps) == 0)
        continue;
      cleanup_free char *body
          = bridge_volume_update_body (v->container, v->volumes[i], files, n);
      shim_error *rerr = NULL;
      if (uvm_request (u, body, VOLUME_UPDATE_TIMEOUT_MS, on_update_reply,
                       NULL, &rerr)
          < 0)
        {
          log_warn ("volume update of %s: %s", v->container, rerr->msg);
          shim_error_free (rerr);
          continue;
        }
      memcpy (v->stamps[i], stamps[i], sizeof *stamps);
      log_entry (LOG_LEVEL_INFO,
                 "volume changed on the host: sent to the guest",
                 (struct log_field[]){ { "container", v->container },
                                       { "volume", v->volumes[i] } },
                 2);
    }
}

/* A look at the volumes' stamps: their content is read (on the thread
   pool) only when one changed.  */
static void
on_volumes_stamped (void *data, const struct bridge_pod_file *files, size_t n,
                    const pod_volume_stamp *stamps, const shim_error *err)
{
  struct pod_volumes *v = data;
  (void) files, (void) n;
  v->reader = NULL;
  bool changed = false;
  for (size_t i = 0; err == NULL && i < v->nvolumes; i++)
    changed = changed || memcmp (stamps[i], v->stamps[i], sizeof *stamps) != 0;
  if (changed)
    pod_file_reader_start (service_config (v->ts)->loop, v->volume_binds,
                           v->nvolumes, true, on_volumes_read, v, &v->reader);
  else if (err != NULL)
    log_warn ("volumes of %s not looked at: %s", v->container, err->msg);
}

struct pod_volume_sync
{
  uv_timer_t timer;
  struct task_service *ts;
};

static void
on_sync_tick (uv_timer_t *timer)
{
  struct pod_volume_sync *s = timer->data;
  if (!sandbox_ready (s->ts))
    return;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &service_tasks (s->ts)->list)
  {
    struct task *t = list_entry (pos, struct task, link);
    struct pod_volumes *v = t->volumes;
    /* An adopted container runs at a migration's source until Finalize;
       a source holds its guest for the destination.  */
    if (v == NULL || v->nvolumes == 0 || v->reader != NULL || t->creating
        || t->exited || t->adopted
        || migration_state_holds_exits (service_migration (s->ts)->state))
      continue;
    pod_file_reader_start (service_config (s->ts)->loop, v->volume_binds,
                           v->nvolumes, false, on_volumes_stamped, v,
                           &v->reader);
  }
}

struct pod_volume_sync *
pod_volume_sync_start (uv_loop_t *loop, struct task_service *ts)
{
  struct pod_volume_sync *s = xzalloc (sizeof *s);
  s->ts = ts;
  uv_timer_init (loop, &s->timer);
  s->timer.data = s;
  uv_timer_start (&s->timer, on_sync_tick, POD_VOLUME_SYNC_MS,
                  POD_VOLUME_SYNC_MS);
  return s;
}

static void
sync_free (uv_handle_t *h)
{
  free (h->data);
}

void
pod_volume_sync_stop (struct pod_volume_sync *s)
{
  if (s != NULL)
    uv_close ((uv_handle_t *) &s->timer, sync_free);
}
