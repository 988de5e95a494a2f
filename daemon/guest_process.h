/* Processes in the sandbox's UVM: containers (their root filesystem built
   into an image, hot-added as a disk, created by the guest agent) and the
   processes exec'd in them; their stdio relayed to containerd's FIFOs and
   their exits reported after their last output.  Each function answers its
   call, at once on an error or when the guest replies.  */
#ifndef LCOW_GUEST_PROCESS_H
#define LCOW_GUEST_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

/* Runs the create chain for t (in the task list, creating): image, disk,
   guest container, then the Create reply.  spec comes from
   oci_spec_load_bundle (its document goes to the guest).  Takes req.  On
   failure the call is failed and t is freed (a standalone task's sandbox with
   it).  */
void guest_container_create (struct task *t, struct ttrpc_call *call,
                             Pb__CreateTaskRequest *req,
                             const struct oci_spec *spec);
/* The start every container create shares (its own, or a live
   migration's adoption, guest_adoption.h): the call and req kept, the pod
   files' binds planned into t->volumes, the process checked, the root
   directory found.  -1 when the call was failed and t freed.  */
int guest_container_begin (struct task *t, struct ttrpc_call *call,
                           Pb__CreateTaskRequest *req,
                           const struct oci_spec *spec);
/* The layers of t's Create request (t->create_req) claimed into
   t->rootfs; ready gets t.  With expect, they must be a migration
   source's (container_rootfs_prepare).  */
int guest_container_prepare_rootfs (struct task *t,
                                    const struct layer_expectation *expect,
                                    size_t nexpect, container_rootfs_fn ready,
                                    shim_error **err);
/* A create's end: CREATED, the relay connected (stdin read at once with
   start), what logged, the Create answered.  */
void guest_container_created (struct task *t, bool start, const char *what);
/* Undoes a create in flight and fails its call; a standalone task takes
   its sandbox with it.  */
void guest_container_create_failed (struct task *t, const shim_error *err);
void guest_process_start (struct task *t, struct ttrpc_call *call);
void guest_process_kill (struct task *t, struct ttrpc_call *call,
                         uint32_t signal, bool all);
void guest_process_resize (struct task *t, struct ttrpc_call *call,
                           uint32_t width, uint32_t height);
/* Answers Pids or Stats, as the call's method says.  */
void guest_container_stats (struct task *t, struct ttrpc_call *call);
/* resources: the OCI LinuxResources JSON containerd sent.  */
void guest_container_update (struct task *t, struct ttrpc_call *call,
                             const char *resources, size_t len);
/* Deletes an exited or never-started container with its exec'd processes
   and unplugs its disk.  */
void guest_container_delete (struct task *t, struct ttrpc_call *call);
/* Adds exec'd process req->exec_id to the running container c.  */
void guest_process_exec (struct task *c, struct ttrpc_call *call,
                         const Pb__ExecProcessRequest *req);

/* The sandbox's VM is about to go (no reply comes after that): every call
   waiting on the guest fails, every container create under way is undone
   (the sandbox's own task excepted), and the containers' disks are
   forgotten (a later sandbox's SCSI targets are not theirs).  */
void guest_sandbox_ending (struct task_service *ts);

/* Connects the process's FIFOs (without them its output is discarded);
   with start, stdin is read (or ended) at once.  */
void guest_process_open_relay (struct task *t, bool start);
/* Delivers t->exit_status_pending once everything the process wrote has
   reached the FIFOs.  */
void guest_process_deliver_exit (struct task *t);
/* The guest agent's exit notifications, process output and stdin credits
   (struct uvm_events; data is the task service).  */
void guest_on_notify (void *data, const char *body, size_t len);
void guest_on_stream (void *data, uint32_t key, uint8_t stream,
                      const uint8_t *bytes, size_t len);
void guest_on_credit (void *data, uint32_t key, uint8_t stream, uint32_t n);

#endif
