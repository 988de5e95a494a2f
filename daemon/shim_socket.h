/* The shim's own unix socket: listening on it (mode 0600) and probing
   whether a live shim serves it.  */
#ifndef LCOW_SHIM_SOCKET_H
#define LCOW_SHIM_SOCKET_H

#include <stdbool.h>

/* A listening, close-on-exec fd on path, or -1 with errno.  */
/* The listen backlog: the host's net.core.somaxconn (SOMAXCONN if
   unknown).  */
int shim_socket_backlog (void);
int shim_socket_listen (const char *path);
/* Whether something accepts connections on path.  */
bool shim_socket_is_served (const char *path);

#endif
