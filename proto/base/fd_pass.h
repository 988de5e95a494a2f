/* A file descriptor passed over a unix socket with SCM_RIGHTS, with the
   bytes it travels with (QMP's add-fd command; the guest's terminal
   master).  */
#ifndef LCOW_FD_PASS_H
#define LCOW_FD_PASS_H

#include <stddef.h>
#include <sys/types.h>

/* One sendmsg of buf with fd attached (retried on EINTR): the bytes sent,
   or -1 with errno.  */
ssize_t fd_pass_send (int sock, const void *buf, size_t len, int fd);

#endif
