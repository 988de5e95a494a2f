/* Live migration of a UVM between two shims (docs/architecture.md, "Live
   migration").  The source's VM streams its state over a connection its
   shim makes to the destination shim's listener (a unix socket, or TCP
   with QEMU's TLS: migration_channel.h); each shim hands its end of that
   connection to its own QEMU (QMP getfd), so neither QEMU opens a path or
   a network of the other side's.

   Source:      uvm_describe, uvm_migrate_out (a ping barrier proves the
                guest consumed everything sent, then the bridge holds what
                the host sends; QMP migrate with return-path), progress,
                cancel until the switchover, then uvm_migration_hand_over
                (the paused VMM quits; the bridge's tail and held frames
                are what the destination needs).
   Destination: a UVM started with uvm_config.incoming (QEMU waits with
                -incoming defer, the guest's connections held unread),
                uvm_describe, uvm_migration_listen, then uvm_migration_adopt
                once the VM runs (the bridge goes on from the handover, a
                round trip proves it, the guest's clock is set).  */
#ifndef LCOW_UVM_UVM_MIGRATION_H
#define LCOW_UVM_UVM_MIGRATION_H

#include <stdbool.h>
#include <stdint.h>

#include "uvm/bridge/bridge_conn.h"
#include "uvm.h"
#include "uvm/migration/migration_channel.h"
#include "uvm/migration/vm_description.h"

/* QEMU's view of a migration (query-migrate), or the shim's own status
   before and around it: "barrier" (waiting for the guest's ping),
   "cancelling".  */
struct uvm_migration_progress
{
  char status[32];
  uint64_t total_ms;
  uint64_t downtime_ms;
  uint64_t transferred_bytes;
  uint64_t remaining_bytes;
  uint64_t total_bytes;
  uint64_t dirty_sync_count;
  /* Why it failed, or "".  */
  char error[512];
};

typedef void (*uvm_describe_fn) (void *data, struct vm_description *d,
                                 const shim_error *err);
/* What the VM is: QEMU's version, its argv's shape, the boot files' hashes
   (read on the thread pool) and, with the guest connected, its uptime.  */
int uvm_describe (struct uvm *u, uvm_describe_fn done, void *data,
                  shim_error **err);

/* Source.  uri: the destination's listener ("unix:PATH" or
   "tcp:HOST:PORT", TLS with migration_tls_dir); token: what its Prepare
   drew.  */
int uvm_migrate_out (struct uvm *u, const char *uri, const char *token,
                     shim_error **err);
void uvm_migration_progress (const struct uvm *u,
                             struct uvm_migration_progress *out);
/* QEMU's part has begun (sending or receiving the VM, or past it).  */
bool uvm_migration_under_way (const struct uvm *u);
/* The migration has switched over: the destination runs the VM.  */
bool uvm_migration_completed (const struct uvm *u);
/* Before the switchover: the source VM keeps running.  */
int uvm_migration_cancel (struct uvm *u, shim_error **err);
typedef void (*uvm_handover_fn) (void *data, struct bridge_handover *h,
                                 const shim_error *err);
int uvm_migration_hand_over (struct uvm *u, uvm_handover_fn done, void *data,
                             shim_error **err);

/* Destination.  *uri: where the source is to send the VM's state; token:
   what it must present first (migration_channel.h).  */
int uvm_migration_listen (struct uvm *u, char **uri,
                          char token[MIGRATION_TOKEN_LEN + 1],
                          shim_error **err);
/* uptime_ms: the guest's, after the first round trip on this side.  */
typedef void (*uvm_adopted_fn) (void *data, uint64_t uptime_ms,
                                const shim_error *err);
int uvm_migration_adopt (struct uvm *u, const struct bridge_handover *h,
                         uvm_adopted_fn done, void *data, shim_error **err);

#endif
