#include "disk_hotplug.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"
#include "uvm/vmm/qmp_client.h"

/* What a target is to its owner and to QEMU; a target is free when none
   of these is set.  */
enum
{
  TARGET_RESERVED = 1, /* an owner holds it */
  TARGET_PRESENT = 2,  /* QEMU may have its node or device */
  TARGET_BUSY = 4,     /* a QMP operation on it is in flight */
  TARGET_STUCK = 8,    /* QEMU failed to let go of it: never reused */
};

struct disk_hotplug
{
  struct qmp_client *qmp;
  char *uvm_id;
  uint8_t targets[DISK_HOTPLUG_TARGET_MAX + 1];
  /* QEMU's fd set holding each target's image (add-fd), or -1.  */
  int64_t fdsets[DISK_HOTPLUG_TARGET_MAX + 1];
  /* Set while closing: callbacks then start nothing new, and call no done
     when quiet.  h is freed with its last operation.  */
  bool closing;
  bool quiet;
  unsigned ops;
};

/* One step of an attach or a detach, for its QMP callback.  */
struct disk_op
{
  struct disk_hotplug *h;
  uint32_t target;
  disk_hotplug_done_fn done;
  void *data;
};

static struct disk_op *
disk_op_new (struct disk_hotplug *h, uint32_t target,
             disk_hotplug_done_fn done, void *data)
{
  struct disk_op *op = xzalloc (sizeof *op);
  *op = (struct disk_op){ h, target, done, data };
  h->ops++;
  return op;
}

static void
free_hotplug (struct disk_hotplug *h)
{
  free (h->uvm_id);
  free (h);
}

static void
disk_op_free (struct disk_op *op)
{
  struct disk_hotplug *h = op->h;
  free (op);
  if (--h->ops == 0 && h->closing)
    free_hotplug (h);
}

static void remove_disk (struct disk_hotplug *h, uint32_t target);

static void
on_fdset_removed (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  struct disk_op *op = data;
  if (err != NULL && !op->h->closing)
    log_warn ("uvm %s: remove the fd set of disk%u: %s", op->h->uvm_id,
              op->target, err->msg);
  disk_op_free (op);
}

/* QEMU closes the image once its node is gone and its fd set removed.  */
static void
drop_fdset (struct disk_hotplug *h, uint32_t target)
{
  if (h->fdsets[target] < 0 || h->closing)
    return;
  char args[64];
  snprintf (args, sizeof args, "{\"fdset-id\":%lld}",
            (long long) h->fdsets[target]);
  h->fdsets[target] = -1;
  qmp_client_execute (h->qmp, "remove-fd", args, on_fdset_removed,
                      disk_op_new (h, target, NULL, NULL));
}

/* An operation on target ended: a disk its owner let go of meanwhile is
   removed now.  */
static void
target_idle (struct disk_hotplug *h, uint32_t target)
{
  h->targets[target] &= (uint8_t) ~TARGET_BUSY;
  if (!h->closing && h->targets[target] == TARGET_PRESENT)
    remove_disk (h, target);
}

static void
finish_attach (struct disk_op *op, const shim_error *err)
{
  struct disk_hotplug *h = op->h;
  uint32_t target = op->target;
  if (err != NULL && !(h->targets[target] & TARGET_PRESENT))
    drop_fdset (h, target);
  if (!(h->closing && h->quiet))
    op->done (op->data, err);
  /* The last operation of a closing h frees it.  */
  bool closing = h->closing;
  disk_op_free (op);
  if (!closing)
    target_idle (h, target);
}

/* A step of a removal failed: the target stays out of use.  Unavailable:
   QEMU is gone, and the disk with it (its exit is reported as such).  */
static void
removal_failed (struct disk_hotplug *h, const char *step, uint32_t target,
                const shim_error *err)
{
  if (err->code != GRPC_UNAVAILABLE)
    log_warn ("uvm %s: %s disk%u: %s", h->uvm_id, step, target, err->msg);
  h->targets[target] |= TARGET_STUCK;
}

static void
on_node_deleted (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  struct disk_op *op = data;
  char target[16];
  snprintf (target, sizeof target, "%u", op->target);
  struct disk_hotplug *h = op->h;
  if (h->closing)
    ; /* the VM goes, and its disks with it */
  else if (err != NULL)
    removal_failed (h, "remove", op->target, err);
  else
    {
      h->targets[op->target] &= (uint8_t) ~TARGET_PRESENT;
      drop_fdset (h, op->target);
      log_entry (LOG_LEVEL_INFO, "disk removed from the VM",
                 (struct log_field[]){ { "uvm-id", h->uvm_id },
                                       { "scsi-target", target } },
                 2);
    }
  uint32_t t = op->target;
  bool closing = h->closing;
  disk_op_free (op);
  if (!closing)
    target_idle (h, t);
}

static void
delete_node (struct disk_hotplug *h, uint32_t target)
{
  char args[64];
  snprintf (args, sizeof args, "{\"node-name\":\"disk%u\"}", target);
  h->targets[target] |= TARGET_BUSY;
  qmp_client_execute (h->qmp, "blockdev-del", args, on_node_deleted,
                      disk_op_new (h, target, NULL, NULL));
}

static void
on_device_added (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  struct disk_op *op = data;
  struct disk_hotplug *h = op->h;
  uint32_t target = op->target;
  /* Do not leave the node behind.  */
  if (err != NULL && !h->closing)
    {
      op->done (op->data, err);
      bool closing = h->closing; /* done may have closed h */
      disk_op_free (op);
      if (!closing)
        delete_node (h, target);
      return;
    }
  finish_attach (op, err);
}

static void
on_blockdev_added (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  struct disk_op *op = data;
  if (err == NULL && !op->h->closing)
    op->h->targets[op->target] |= TARGET_PRESENT;
  if (err != NULL || op->h->closing)
    {
      finish_attach (op, err);
      return;
    }
  char args[256];
  snprintf (args, sizeof args,
            "{\"driver\":\"scsi-hd\",\"id\":\"disk%u\",\"drive\":\"disk%u\","
            "\"bus\":\"scsi0.0\",\"channel\":0,\"scsi-id\":%u,\"lun\":0}",
            op->target, op->target, op->target);
  qmp_client_execute (op->h->qmp, "device_add", args, on_device_added, op);
}

/* The node can go once QEMU has let go of the device.  */
static void
on_device_deleted (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  struct disk_op *op = data;
  struct disk_hotplug *h = op->h;
  uint32_t target = op->target;
  bool unplugged = !h->closing && err == NULL;
  if (!h->closing && err != NULL)
    removal_failed (h, "unplug", target, err);
  bool closing = h->closing;
  disk_op_free (op);
  if (unplugged)
    delete_node (h, target);
  else if (!closing)
    h->targets[target] &= (uint8_t) ~TARGET_BUSY;
}

struct disk_hotplug *
disk_hotplug_new (struct qmp_client *qmp, const char *uvm_id)
{
  struct disk_hotplug *h = xzalloc (sizeof *h);
  h->qmp = qmp;
  h->uvm_id = xstrdup (uvm_id);
  for (size_t i = 0; i <= DISK_HOTPLUG_TARGET_MAX; i++)
    h->fdsets[i] = -1;
  return h;
}

int
disk_hotplug_reserve (struct disk_hotplug *h, uint32_t *target)
{
  for (uint32_t t = 1; t <= DISK_HOTPLUG_TARGET_MAX; t++)
    if (h->targets[t] == 0)
      {
        h->targets[t] = TARGET_RESERVED;
        *target = t;
        return 0;
      }
  return -1;
}

int
disk_hotplug_reserve_at (struct disk_hotplug *h, uint32_t target)
{
  if (target < 1 || target > DISK_HOTPLUG_TARGET_MAX
      || h->targets[target] != 0)
    return -1;
  h->targets[target] = TARGET_RESERVED;
  return 0;
}

/* QEMU holds the image in an fd set: add the node on it.  */
static void
on_fd_added (void *data, const json_value *ret, const shim_error *err)
{
  struct disk_op *op = data;
  struct disk_hotplug *h = op->h;
  const json_value *id = json_get (ret, "fdset-id");
  shim_error bad = { GRPC_INTERNAL, (char *) "add-fd: no fdset-id" };
  if (err == NULL && (id == NULL || id->type != JSON_NUMBER))
    err = &bad;
  if (err != NULL || h->closing)
    {
      finish_attach (op, err);
      return;
    }
  h->fdsets[op->target] = strtoll (id->str, NULL, 10);
  char args[256];
  snprintf (args, sizeof args,
            "{\"driver\":\"raw\",\"node-name\":\"disk%u\","
            "\"read-only\":true,\"file\":{\"driver\":\"file\","
            "\"read-only\":true,\"filename\":\"/dev/fdset/%lld\"}}",
            op->target, (long long) h->fdsets[op->target]);
  qmp_client_execute (h->qmp, "blockdev-add", args, on_blockdev_added, op);
}

int
disk_hotplug_attach (struct disk_hotplug *h, const char *image,
                     uint32_t target, disk_hotplug_done_fn done, void *data,
                     shim_error **err)
{
  /* Opened here and passed: QEMU, unprivileged, need not reach the
     bundle.  */
  int fd = open (image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return shim_error_errno (err, grpc_code_from_errno (errno), errno,
                             "open %s", image);
  h->targets[target] |= TARGET_BUSY;
  char args[64];
  snprintf (args, sizeof args, "{\"opaque\":\"disk%u\"}", target);
  qmp_client_execute_fd (h->qmp, "add-fd", args, fd, on_fd_added,
                         disk_op_new (h, target, done, data));
  return 0;
}

static void
remove_disk (struct disk_hotplug *h, uint32_t target)
{
  char args[64], device[32];
  h->targets[target] |= TARGET_BUSY;
  snprintf (device, sizeof device, "disk%u", target);
  snprintf (args, sizeof args, "{\"id\":\"%s\"}", device);
  qmp_client_execute_until (h->qmp, "device_del", args, "DEVICE_DELETED",
                            device, on_device_deleted,
                            disk_op_new (h, target, NULL, NULL));
}

void
disk_hotplug_release (struct disk_hotplug *h, uint32_t target)
{
  if (target == 0 || target > DISK_HOTPLUG_TARGET_MAX)
    return;
  h->targets[target] &= (uint8_t) ~TARGET_RESERVED;
  if (h->targets[target] == TARGET_PRESENT)
    remove_disk (h, target);
}

void
disk_hotplug_close (struct disk_hotplug *h, bool quiet)
{
  if (h == NULL)
    return;
  h->closing = true;
  h->quiet = quiet;
  /* Operations in flight end when their QMP client is closed.  */
  if (h->ops == 0)
    free_hotplug (h);
}
