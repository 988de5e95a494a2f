/* Disks hot-added to a running QEMU over its QMP socket, as hcsshim
   hot-adds layer VHDs: a raw image, read-only, at target T (LUN 0) of the
   virtio-SCSI controller scsi0 (node and device "disk<T>"), and removed
   again: device_del, QEMU's DEVICE_DELETED, blockdev-del, remove-fd.  */
#ifndef LCOW_UVM_DISK_HOTPLUG_H
#define LCOW_UVM_DISK_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

struct disk_hotplug;

typedef void (*disk_hotplug_done_fn) (void *data, const shim_error *err);

struct qmp_client;

/* Uses the VM's QMP client, which must outlive h's operations (they end,
   at the latest, when the client is closed); uvm_id names the VM in the
   log.  */
struct disk_hotplug *disk_hotplug_new (struct qmp_client *qmp,
                                       const char *uvm_id);
/* SCSI targets for container disks: 1 to this (0 is the UVM's root).  */
#define DISK_HOTPLUG_TARGET_MAX 255

/* The lowest free target, now held by the caller; -1 if none is free.  A
   target is free again once its owner released it and QEMU let go of
   whatever was attached there: one that cannot be unplugged is never
   reused.  */
int disk_hotplug_reserve (struct disk_hotplug *h, uint32_t *target);
/* Reserves exactly target (a live migration's destination attaches each
   disk where the source had it); -1 if it is out of range or held.  */
int disk_hotplug_reserve_at (struct disk_hotplug *h, uint32_t target);
/* Attaches image at a target the caller holds: the shim opens it and
   passes the fd (add-fd; the node reads /dev/fdset/N), so QEMU needs no
   access to the bundle.  -1 if the image cannot be opened; else done is
   called once: the disk is there, or why not (a failed device_add takes
   its node away again).  */
int disk_hotplug_attach (struct disk_hotplug *h, const char *image,
                         uint32_t target, disk_hotplug_done_fn done,
                         void *data, shim_error **err);
/* The owner lets go of target: a disk there is removed in the background
   (the log says how it went), also one whose attach is still under way.  */
void disk_hotplug_release (struct disk_hotplug *h, uint32_t target);
/* Starts nothing more; h is freed now, or with the last operation in
   flight, which ends when the QMP client is closed: attaches then fail
   with Unavailable, or, when quiet, are dropped without a call.  */
void disk_hotplug_close (struct disk_hotplug *h, bool quiet);

#endif
