/* lcow.migration.v1.Migration (proto/migration.proto), served on the shim
   socket next to the Task API: the live migration of a sandbox's VM from
   this shim to another one (uvm/uvm_migration.h has the VM's side).

   Source:      Export (migratable, ready: it describes the VM and the
                containers that move, and freezes mutating Task calls),
                Transfer, Progress, Finalize (after the switchover: the VMM
                quits, the bridge's tail, streams and held exits are
                answered, the tasks end as moved), Cancel.
   Destination: a sandbox task created with ANNOTATION_MIGRATION_INCOMING,
                then Import (compatibility, the containers to adopt),
                Creates with ANNOTATION_MIGRATION_SOURCE_CONTAINER (adopted,
                guest_adoption.h), Prepare (every container adopted: the
                listener), Progress, Finalize (the bridge adopted, a round
                trip, the guest's clock set, the containers' relays
                started), Cancel (its VMM is stopped).  */
#ifndef LCOW_DAEMON_MIGRATION_SERVICE_H
#define LCOW_DAEMON_MIGRATION_SERVICE_H

#include <stdbool.h>

struct task;

#include "migration_containers.h"
#include "migration_state.h"
#include "task_service.h"
#include "ttrpc_server.h"

void migration_service_register (struct task_service *ts,
                                 struct ttrpc_server *s);
/* During a migration, a Task call its method's rule refuses (the
   ttrpc_method.policy of the Task service's table, a migration_call_rule;
   t: the task it names, or NULL): fails the call with FailedPrecondition
   and returns true.  */
bool migration_refuses (struct task_service *ts, struct ttrpc_call *call,
                        const struct task *t);
/* Destination: a Create (task task_id, its process's digest) naming
   source container source_id claims it, between Import and Prepare; or
   the call is failed (NULL).  */
const struct migrating_container *
migration_adoption_claim (struct task_service *ts, struct ttrpc_call *call,
                          const char *task_id, const char *source_id,
                          const char *process_digest);
/* The sandbox was created to receive a migration (its VMM waits).  */
void migration_incoming_created (struct task_service *ts);
/* The sandbox's VM went on at the destination: its exit is no fault.  */
bool migration_moved (const struct task_service *ts);
/* A Kill of the sandbox task: a migration under way is cancelled first
   (an orchestrator that died must not leave the sandbox unkillable).  */
void migration_give_up (struct task_service *ts, const char *why);
/* The sandbox ends: a migration call waiting for its VM is failed.  */
void migration_sandbox_ending (struct task_service *ts);

#endif
