/* A container in the guest: its root filesystem (the EROFS layer images
   the host hot-added as SCSI targets, each mounted read-only once per pod,
   stacked with overlayfs over a writable scratch),
   its pod files, its cgroup, and the processes started in it.  A process
   is forked held: set up (namespaces, mounts, root, cwd, rlimits, user)
   and waiting, so setup errors fail Create and exec errors fail Start.  */
#ifndef LCOW_GUEST_CONTAINER_H
#define LCOW_GUEST_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bridge_request.h"
#include "held_process.h"
#include "proto/base/error.h"
#include "proto/oci_spec.h"
#include "proto/base/strbuf.h"

struct container;

/* The agent's one-time setup: the cgroup2 hierarchy with the cpu, memory
   and pids controllers for containers.  */
int containers_init (shim_error **err);

int container_create (const struct bridge_request *req, struct container **out,
                      shim_error **err);
const char *container_id (const struct container *c);
/* The container's init process, or 0 before it exists.  */
pid_t container_init_pid (const struct container *c);

/* Forks a held process: the container's init (the spec's process, in new
   mount, UTS and IPC namespaces), or with p set another one joining the
   init's namespaces.  */
int container_spawn (struct container *c, const struct oci_process *p,
                     struct held_process *out, shim_error **err);

/* {"type":"stats","cpu_ns":..,"memory_bytes":..,"memory_limit":..,
   "pids":[..]} from the container's cgroup.  */
void container_stats (const struct container *c, strbuf *out);
/* The pod's NIC, which every container shares (network.h).  */
int containers_network (const char *config, size_t len, shim_error **err);
/* The guest's wall clock, in ns since the epoch (it falls behind by a
   migration's downtime).  */
int guest_set_time (uint64_t unix_ns, shim_error **err);
/* Update: an OCI LinuxResources object applied to the running container's
   cgroup (see cgroup_resources.h); device rules replace the devices
   program.  */
int container_update (struct container *c, const char *resources, size_t len,
                      shim_error **err);
/* Signals every process in the container's cgroup.  */
void container_signal_all (const struct container *c, int sig);
/* Kills what runs in it, unmounts, drops the SCSI device; frees c.  */
void container_destroy (struct container *c);
/* A volume's new content (volume_update): swapped in atomically.  */
int container_volume_update (struct container *c,
                             const struct bridge_request *req,
                             shim_error **err);
/* Bytes of the termination log the host copies back (the kubelet reads at
   most 4096).  */
#define CONTAINER_TERMINATION_MESSAGE_MAX 4096
/* The termination log's content as a JSON string (nothing if the container
   has none, or it is empty).  */
void container_termination_message (const struct container *c, strbuf *out);
/* The host is about to unplug the layer disk at target, which no container
   uses any more: unmounted, and the SCSI device let go of.  */
int container_disk_remove (uint32_t target, shim_error **err);

#endif
