/* The connection a VM's state travels on between two shims: the
   destination listens (a unix socket in its state directory, or TCP at
   migration_listen_address), the source dials.  The destination's Prepare
   draws a one-time token; the source sends it first, and the destination
   hands only a connection that presented it to its QEMU (getfd), so
   nothing else that reaches the port can feed the VM.  Sockets live
   outside libuv (their fds go to QEMU) and are watched with uv_poll;
   nothing blocks: TCP addresses are numeric, never looked up.  */
#ifndef LCOW_UVM_MIGRATION_MIGRATION_CHANNEL_H
#define LCOW_UVM_MIGRATION_MIGRATION_CHANNEL_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "proto/base/error.h"

/* Hex of 32 random bytes.  */
#define MIGRATION_TOKEN_LEN 64

int migration_token_new (char out[MIGRATION_TOKEN_LEN + 1], shim_error **err);

/* A socket address from "unix:/PATH", "tcp:A.B.C.D:PORT" or
   "tcp:[V6]:PORT" (port 0 only where listen says so); InvalidArgument
   naming what is wrong.  Pure.  */
struct migration_address
{
  struct sockaddr_storage sa;
  socklen_t len;
  /* tcp: the host as written (no brackets), for TLS's name check.  */
  char host[64];
  bool tcp;
};
int migration_address_parse (const char *uri, bool listen,
                             struct migration_address *out, shim_error **err);

/* FailedPrecondition naming each of QEMU's x509 files missing from dir
   (ca-cert.pem and the server's or the client's certificate and key), or
   0.  */
int migration_tls_dir_check (const char *dir, bool server, shim_error **err);

struct migration_listener;
/* fd: a connected, blocking socket that presented the token; the callee
   owns it.  The listener is closed by then.  */
typedef void (*migration_accept_fn) (void *data, int fd);
/* Listens at uri (as migration_address_parse reads it, port 0 picks
   one); *bound: the URI the source is to dial.  Connections with a wrong
   token, or none within a bound, are closed and logged; listening goes
   on.  */
int migration_listener_open (uv_loop_t *loop, const char *uri,
                             const char *token, migration_accept_fn fn,
                             void *data, struct migration_listener **out,
                             char **bound, shim_error **err);
/* Stops listening (a unix socket's file is removed); freed once libuv
   lets go.  Safe with NULL.  */
void migration_listener_close (struct migration_listener *l);

struct migration_dial;
/* fd: connected, the token sent, blocking; the callee owns it.  Or err
   (fd -1).  */
typedef void (*migration_dialled_fn) (void *data, int fd,
                                      const shim_error *err);
int migration_dial_start (uv_loop_t *loop, const char *uri, const char *token,
                          migration_dialled_fn fn, void *data,
                          struct migration_dial **out, shim_error **err);
/* No callback after this; safe with NULL.  */
void migration_dial_cancel (struct migration_dial *d);

#endif
