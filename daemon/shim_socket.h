/* The shim's own unix socket: listening on it (mode 0600) and probing
   whether a live shim serves it.  */
#ifndef LCOW_SHIM_SOCKET_H
#define LCOW_SHIM_SOCKET_H

#include <stdbool.h>

/* How long a live shim may take to answer the probe.  */
#define SHIM_SOCKET_PROBE_SECONDS 2

/* The listen backlog: the host's net.core.somaxconn (SOMAXCONN if
   unknown).  */
int shim_socket_backlog (void);
/* A listening, close-on-exec fd on path, or -1 with errno.  */
int shim_socket_listen (const char *path);
/* Whether a live shim serves path: it answers a ttrpc request.  */
bool shim_socket_is_served (const char *path);

#endif
