/* A host-side listener for one vsock port of one guest, over either
   transport:
   - hybrid: a unix socket at <uds>_<port> (the Firecracker / Cloud
     Hypervisor convention; the QEMU backend wires each port's virtio-serial
     channel to it), private to the sandbox;
   - AF_VSOCK: the kernel's vsock (a KVM host with vhost-vsock), where a port
     is host-wide; connections from any CID but the guest's are refused.
   Sockets are created outside libuv (libuv 1.44 has no vsock) and watched
   with uv_poll; each accepted connection is handed over as a plain fd.  */
#ifndef LCOW_UVM_VSOCK_PORT_H
#define LCOW_UVM_VSOCK_PORT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/base/error.h"

enum vsock_transport
{
  VSOCK_TRANSPORT_HYBRID,
  VSOCK_TRANSPORT_AF_VSOCK,
};

struct vsock_listener;

/* fd is a connected, non-blocking stream socket the callee now owns.  */
typedef void (*vsock_accept_fn) (void *data, int fd);

struct vsock_listener_config
{
  enum vsock_transport transport;
  /* hybrid: base path; the socket is <uds>_<port>.  */
  const char *uds;
  uint32_t port;
  /* AF_VSOCK: the only CID accepted.  */
  uint32_t guest_cid;
  /* Close the listener after the first accepted connection.  */
  bool single;
};

int vsock_listener_open (uv_loop_t *loop,
                         const struct vsock_listener_config *cfg,
                         vsock_accept_fn on_accept, void *data,
                         struct vsock_listener **out, shim_error **err);
/* Stops listening, removes the socket file (hybrid) and frees the listener
   once libuv has let go of it.  Safe to call once, at any time.  */
void vsock_listener_close (struct vsock_listener *l);
/* <uds>_<port>; fails when it would not fit in sun_path.  */
int vsock_hybrid_path (const char *uds, uint32_t port, char **out,
                       shim_error **err);
/* Whether this host can create AF_VSOCK sockets at all.  */
bool vsock_af_vsock_available (void);

#endif
