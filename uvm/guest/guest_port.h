/* How a guest program reaches a host vsock port: AF_VSOCK to the host
   (CID 2) when the VM has a vsock transport, otherwise the virtio-serial
   port the VMM named "vsock.<port>" (the QEMU backend's carrier, since the
   kernel command line blacklists virtio-vsock).  Run on the host (the
   sanitizer tests run the agent and vsockexec there), the programs are
   given the shim's hybrid socket base path in GUEST_PORT_HYBRID_ENV and
   connect to <base>_<port> only: never to AF_VSOCK, whose host end on a
   machine that is itself a VM is its hypervisor.  */
#ifndef LCOW_GUEST_PORT_H
#define LCOW_GUEST_PORT_H

#include <stdint.h>

#define GUEST_PORT_HYBRID_ENV "LCOW_VSOCK_UDS"

/* Returns a connected fd, or -1 with errno set (ECONNREFUSED when neither
   transport offers the port).  */
int guest_port_connect (uint32_t port);

/* Parses a port number for -e/-o/-i style flags; 0 or garbage is -1.  */
int64_t guest_port_parse (const char *s);

#endif
