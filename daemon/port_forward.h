/* containerd's PortForward into the guest.  containerd connects to
   127.0.0.1:PORT in the pod's network namespace on the host (as it does
   for a runc pod); the steering of uvm/podnet/pod_port_steer.h brings every
   such connection to the relay's one listener, which asks the guest agent
   for a connection to 127.0.0.1:PORT in the VM (the bridge's "connect") and
   relays the bytes as a process's streams: the connection's key comes from
   the service's process keys, host to guest is its stdin (read from
   containerd only while the guest has room, BRIDGE_WINDOW), guest to host
   its stdout (credited once written to containerd).  A port nothing
   listens on in the guest closes containerd's connection with a reset, as
   a refused connect would.  The relay lives as long as the pod sandbox's
   UVM; a sandbox with no network namespace path has none.  */
#ifndef LCOW_DAEMON_PORT_FORWARD_H
#define LCOW_DAEMON_PORT_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

/* Connections one pod may have at once; more are reset and logged.  */
#define PORT_FORWARD_CONNECTIONS_MAX 64

struct uvm;
struct port_forward;

struct port_forward_config
{
  uv_loop_t *loop;
  struct uvm *uvm;
  const char *sandbox_id;
  const char *netns_path;
  /* The service's process key counter (keys are never reused).  */
  uint32_t *next_key;
};

int port_forward_start (const struct port_forward_config *cfg,
                        struct port_forward **out, shim_error **err);
/* The guest's output, credit and exit for a key: true when the key is one
   of the relay's connections (then it was handled).  pf may be NULL.  */
bool port_forward_on_stream (struct port_forward *pf, uint32_t key,
                             uint8_t stream, const uint8_t *bytes, size_t len);
bool port_forward_on_credit (struct port_forward *pf, uint32_t key,
                             uint32_t n);
bool port_forward_on_exit (struct port_forward *pf, uint32_t key);
/* Closes the listener and every connection; the UVM is not used after
   this (call it before uvm_destroy, in the same turn of the loop).  pf is
   freed when libuv lets go.  NULL is fine.  */
void port_forward_stop (struct port_forward *pf);

#endif
