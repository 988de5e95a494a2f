/* Disks hot-added to a running QEMU over its QMP socket, as hcsshim
   hot-adds layer VHDs: a raw image, read-only, at target T (LUN 0) of the
   virtio-SCSI controller scsi0 (node and device "disk<T>"), and removed
   again: device_del, QEMU's DEVICE_DELETED, then blockdev-del.  */
#ifndef LCOW_UVM_DISK_HOTPLUG_H
#define LCOW_UVM_DISK_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/error.h"

struct disk_hotplug;

typedef void (*disk_hotplug_done_fn) (void *data, const shim_error *err);

struct qmp_client;

/* Uses the VM's QMP client, which must outlive h's operations (they end,
   at the latest, when the client is closed); uvm_id names the VM in the
   log.  */
struct disk_hotplug *disk_hotplug_new (struct qmp_client *qmp,
                                       const char *uvm_id);
/* done is called once: the disk is there, or why not (a failed device_add
   takes its node away again).  */
void disk_hotplug_attach (struct disk_hotplug *h, const char *image,
                          uint32_t target, disk_hotplug_done_fn done,
                          void *data);
/* Removes the disk in the background; the log says how it went.  */
void disk_hotplug_detach (struct disk_hotplug *h, uint32_t target);
/* Starts nothing more; h is freed now, or with the last operation in
   flight, which ends when the QMP client is closed: attaches then fail
   with Unavailable, or, when quiet, are dropped without a call.  */
void disk_hotplug_close (struct disk_hotplug *h, bool quiet);

#endif
