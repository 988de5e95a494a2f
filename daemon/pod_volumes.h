/* A container's pod content after the create has read it
   (policy/pod_file_binds.h): which volumes, emptyDirs and termination log
   the guest makes, the host paths bound into the VM's host share for it
   (uvm/host_share.h; let go of with the container), the termination log
   written back to its host file when the container exits (the kubelet reads
   the termination message there), and volumes kept in sync: every
   POD_VOLUME_SYNC_MS each running container's volumes are looked at on the
   thread pool (their stamps: the kubelet's ..data link, or the entries'
   inodes and times; no file read), and only a volume whose stamp changed
   is read again, also on the pool, and goes to the guest as a
   volume_update, which swaps it in atomically (the kubelet updates its
   volumes the same way: configMap edits, rotated service-account tokens).
   The loop's share is a compare of stamps per container.  */
#ifndef LCOW_DAEMON_POD_VOLUMES_H
#define LCOW_DAEMON_POD_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "daemon/pod_file_reader.h"
#include "policy/pod_file_binds.h"
#include "uvm/bridge/bridge.h"

#define POD_VOLUME_SYNC_MS 1000

struct task_service;
struct pod_volumes;
struct pod_volume_sync;

/* Copies binds (the create's plan).  */
struct pod_volumes *pod_volumes_new (struct task_service *ts,
                                     const char *container,
                                     const struct pod_file_bind *binds,
                                     size_t n);
void pod_volumes_free (struct pod_volumes *v);
/* The binds it copied.  */
const struct pod_file_bind *pod_volumes_binds (const struct pod_volumes *v);
size_t pod_volumes_bind_count (const struct pod_volumes *v);
/* Binds the container's host paths into the VM's host share.  */
int pod_volumes_share (struct pod_volumes *v, shim_error **err);
/* The create's volume, emptyDir, host share and termination-log members
   (pointing into v), and v remembers the volumes' stamps as read for the
   create (stamps: one per bind of pod_volumes_new).  */
void pod_volumes_describe (struct pod_volumes *v, struct bridge_create *bc,
                           const pod_volume_stamp *stamps);
/* The termination message's bytes the kubelet reads; the guest is not
   trusted to send no more.  */
#define POD_TERMINATION_MESSAGE_MAX 4096
/* Writes a container's termination message (its first
   POD_TERMINATION_MESSAGE_MAX bytes) to its termination log on the host
   (beneath its pod root, no symlink followed, a regular file).  */
int pod_volumes_write_termination (const struct pod_volumes *v,
                                   const char *message, size_t len,
                                   shim_error **err);

/* The sandbox's sync timer over the service's containers.  */
struct pod_volume_sync *pod_volume_sync_start (uv_loop_t *loop,
                                               struct task_service *ts);
void pod_volume_sync_stop (struct pod_volume_sync *s);

#endif
