#include "disk_hotplug.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/strbuf.h"
#include "proto/xalloc.h"
#include "qmp_client.h"

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
  if (!(h->closing && h->quiet))
    op->done (op->data, err);
  disk_op_free (op);
  if (!h->closing)
    target_idle (h, target);
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
    {
      log_warn ("uvm %s: remove disk%u: %s", h->uvm_id, op->target, err->msg);
      h->targets[op->target] |= TARGET_STUCK;
    }
  else
    {
      h->targets[op->target] &= (uint8_t) ~TARGET_PRESENT;
      log_entry (LOG_LEVEL_INFO, "disk removed from the VM",
                 (struct log_field[]){ { "uvm-id", h->uvm_id },
                                       { "scsi-target", target } },
                 2);
    }
  uint32_t t = op->target;
  disk_op_free (op);
  if (!h->closing)
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
      disk_op_free (op);
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
    {
      log_warn ("uvm %s: unplug disk%u: %s", h->uvm_id, target, err->msg);
      h->targets[target] |= TARGET_STUCK;
    }
  disk_op_free (op);
  if (unplugged)
    delete_node (h, target);
  else if (!h->closing)
    h->targets[target] &= (uint8_t) ~TARGET_BUSY;
}

struct disk_hotplug *
disk_hotplug_new (struct qmp_client *qmp, const char *uvm_id)
{
  struct disk_hotplug *h = xzalloc (sizeof *h);
  h->qmp = qmp;
  h->uvm_id = xstrdup (uvm_id);
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

void
disk_hotplug_attach (struct disk_hotplug *h, const char *image,
                     uint32_t target, disk_hotplug_done_fn done, void *data)
{
  h->targets[target] |= TARGET_BUSY;
  strbuf args = STRBUF_INIT;
  strbuf_printf (&args,
                 "{\"driver\":\"raw\",\"node-name\":\"disk%u\","
                 "\"read-only\":true,\"file\":{\"driver\":\"file\","
                 "\"read-only\":true,\"filename\":",
                 target);
  strbuf_json_string (&args, image, strlen (image));
  strbuf_puts (&args, "}}");
  qmp_client_execute (h->qmp, "blockdev-add", args.data, on_blockdev_added,
                      disk_op_new (h, target, done, data));
  strbuf_release (&args);
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
