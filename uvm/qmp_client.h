/* A QMP client for one QEMU: connects on first use, negotiates
   capabilities, runs commands one at a time (each bounded by a timeout) and
   reports each one's success or QEMU's error.  Events are ignored.  */
#ifndef LCOW_UVM_QMP_CLIENT_H
#define LCOW_UVM_QMP_CLIENT_H

#include <uv.h>

#include "proto/error.h"

struct qmp_client;

typedef void (*qmp_done_fn) (void *data, const shim_error *err);

struct qmp_client *qmp_client_new (uv_loop_t *loop, const char *socket_path);
/* Queues {"execute": command, "arguments": arguments_json}; done is called
   exactly once (by qmp_client_close at the latest, with Unavailable).  */
void qmp_client_execute (struct qmp_client *q, const char *command,
                         const char *arguments_json, qmp_done_fn done,
                         void *data);
/* Fails queued commands; frees q once libuv lets go of its handles.  */
void qmp_client_close (struct qmp_client *q);

#endif
