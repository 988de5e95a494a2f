/* The guest processes' side of a live migration with containers
   (docs/architecture.md, "Live migration").
   Source:      from the export on, the guest's exits are held (the side
                that ends up running the VM delivers them); the stdin
                state of each stream and the held exits go into the
                handover; after the switchover each container's output
                drains into this side's FIFOs, then the task ends as moved
                (no TaskExit: it runs on at the destination).
   Destination: a Create naming a source container adopts it: same
                process key and pid, the layers re-attached where the
                source had them, no guest create; Start answers at once;
                Finalize starts the relays with the source's stdin state
                and delivers the held exits; a migration that ends without
                a switchover exits the adopted containers (255).  */
#ifndef LCOW_DAEMON_GUEST_ADOPTION_H
#define LCOW_DAEMON_GUEST_ADOPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration_containers.h"
#include "task.h"

/* One process stream's stdin at the switchover.  */
struct stream_handover
{
  uint32_t key;
  uint32_t stdin_unacked;
  bool stdin_closed;
};

/* At most this much of a termination message moves (the kubelet reads
   no more).  */
#define HELD_EXIT_MESSAGE_MAX 4096

struct held_exit
{
  uint32_t key;
  uint32_t status;
  /* The termination message, or NULL: the source's points into its task,
     the destination's copies are its Finalize's.  */
  const char *message;
  size_t message_len;
};

/* Source.  Exits are held while the migration's state says so
   (migration_state_holds_exits); when the migration ended here, the held
   ones are delivered.  */
void guest_deliver_held_exits (struct task_service *ts);
/* The stdin state of the streams keys[0..n) into streams, and the held
   exits (*exits allocated, the caller frees it).  */
void guest_handover_state (struct task_service *ts, const uint32_t *keys,
                           size_t n, struct stream_handover *streams,
                           struct held_exit **exits, size_t *nexits);
/* After the switchover: every process of the pod ends as moved once its
   output has reached the FIFOs.  */
void guest_processes_moved (struct task_service *ts);

/* Destination.  Runs the adoption of mc for t (in the task list; created
   from req and spec, whose process digest matched): the layers attached at
   the source's targets, then the Create reply with the source's pid.
   Takes req.  On failure the call is failed and t freed.  */
void guest_container_adopt (struct task *t, struct ttrpc_call *call,
                            Pb__CreateTaskRequest *req,
                            const struct oci_spec *spec,
                            const struct migrating_container *mc);
/* Finalize went through: the adopted tasks become ordinary.  */
void guest_adoption_finalized (struct task_service *ts,
                               const struct stream_handover *streams,
                               size_t nstreams, const struct held_exit *exits,
                               size_t nexits);
/* The migration ended here without the source's handover: each adopted
   container exits (255) so that it can be deleted; why is logged (it runs
   on at the source, or the source is gone).  */
void guest_adoption_abandon (struct task_service *ts, const char *why);

#endif
