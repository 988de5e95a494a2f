/* The containers a live migration moves (proto/migration.proto's
   Container), as one record set: collected from the task table on the
   source, turned into the Export answer, read back from the Import request
   on the destination, where the Creates that adopt them claim them one by
   one.  Only init processes move: a pod with a container being created
   or exited but not deleted does not export, and its running exec'd
   processes are awaited (or refused).  The
   conversions and checks are pure; collecting reads the task table.  */
#ifndef LCOW_DAEMON_MIGRATION_CONTAINERS_H
#define LCOW_DAEMON_MIGRATION_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration.pb-c.h"
#include "proto/base/error.h"
#include "proto/oci_spec.h"

struct task_service;

/* What one Import may carry.  */
#define MIGRATION_CONTAINERS_MAX 256
#define MIGRATION_LAYERS_MAX 128
#define MIGRATION_ID_MAX 256
/* "sha256:" and 64 hex digits.  */
#define MIGRATION_LAYER_DIGEST_LEN 71

struct migrating_layer
{
  uint32_t target;
  char digest[MIGRATION_LAYER_DIGEST_LEN + 1];
};

struct migrating_container
{
  char *id;       /* on the source */
  char *guest_id; /* what the guest knows it by */
  uint32_t key;
  uint32_t pid;
  bool terminal;
  char process_digest[65];
  struct migrating_layer *layers; /* top first */
  size_t nlayers;
  /* Destination: the task that adopted it (its id), or NULL.  */
  char *adopted_by;
};

struct migrating_set
{
  struct migrating_container *items;
  size_t n;
  uint32_t next_process_key;
};

/* sha256 (hex) of what makes a container's process itself: args, env,
   cwd, uid, gid, terminal.  Two specs with equal digests ask for the same
   process (a destination adopts only that).  */
void migration_process_digest (const struct oci_process *p, char hex[65]);

/* Source: every container of the pod, or FailedPrecondition naming each
   container that cannot move and why.  Exec'd processes are not looked
   at: see migration_running_execs.  */
int migrating_set_collect (struct task_service *ts, struct migrating_set *out,
                           shim_error **err);
/* Source: how many exec'd processes have not exited (they do not move:
   an Export awaits them); when any, *err is FailedPrecondition naming
   each.  */
size_t migration_running_execs (struct task_service *ts, shim_error **err);
/* Source: the set as the Export answer's members (pointing into set;
   migrating_set_pb_free frees what this allocated).  */
void migrating_set_to_pb (const struct migrating_set *set,
                          Pb__ExportResponse *resp);
void migrating_set_pb_free (Pb__ExportResponse *resp);
/* Destination: the Import request's containers, checked (bounds, unique
   ids and keys, digests' shape); InvalidArgument naming every problem.  */
int migrating_set_from_pb (Pb__Container *const *in, size_t n,
                           uint32_t next_process_key,
                           struct migrating_set *out, shim_error **err);
void migrating_set_release (struct migrating_set *set);
/* Destination: the imported container source_id, for task task_id whose
   process has process_digest; or FailedPrecondition: unknown, adopted
   already, or another process.  */
struct migrating_container *migrating_set_claim (struct migrating_set *set,
                                                 const char *source_id,
                                                 const char *task_id,
                                                 const char *process_digest,
                                                 shim_error **err);
/* A claim undone (the adopting Create failed).  */
void migrating_set_unclaim (struct migrating_set *set, const char *task_id);
/* Destination: FailedPrecondition naming every container not adopted.  */
int migrating_set_all_adopted (const struct migrating_set *set,
                               shim_error **err);

#endif
