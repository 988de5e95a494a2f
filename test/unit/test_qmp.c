/* The QMP client against a scripted QEMU (a thread on a unix socket):
   negotiation, one command at a time, QEMU's errors, and a command that
   completes only on its event (device_del and DEVICE_DELETED).  */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "suites.h"
#include "uvm/vmm/qmp_client.h"

struct fake_qemu
{
  int listen_fd;
  /* What the client sent, one command per line.  */
  char received[4096];
  /* Set just before the awaited event is written.  */
  atomic_int event_sent;
};

static void
send_line (int fd, const char *line)
{
  size_t len = strlen (line);
  ck_assert_int_eq (write (fd, line, len), (ssize_t) len);
}

/* Reads one newline-terminated command into q->received.  */
static void
read_command (int fd, struct fake_qemu *q)
{
  char c;
  size_t used = strlen (q->received);
  while (read (fd, &c, 1) == 1 && used + 1 < sizeof q->received)
    {
      q->received[used++] = c;
      if (c == '\n')
        break;
    }
  q->received[used] = '\0';
}

static void *
fake_qemu_run (void *arg)
{
  struct fake_qemu *q = arg;
  int fd = accept (q->listen_fd, NULL, NULL);
  send_line (fd, "{\"QMP\":{\"version\":{}}}\n");
  read_command (fd, q); /* qmp_capabilities */
  send_line (fd, "{\"return\":{}}\n");
  read_command (fd, q); /* blockdev-add: refused */
  send_line (fd, "{\"error\":{\"class\":\"GenericError\","
                 "\"desc\":\"Could not open 'x'\"}}\n");
  read_command (fd, q); /* device_del disk1 */
  send_line (fd, "{\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":"
                 "\"disk2\"}}\n");
  send_line (fd, "{\"return\":{}}\n");
  send_line (fd, "{\"event\":\"RESET\",\"data\":{}}\n");
  send_line (fd, "{\"event\":\"DEVICE_DELETED\",\"data\":{\"path\":"
                 "\"/machine/peripheral/disk1/virtio-backend\"}}\n");
  usleep (50 * 1000);
  atomic_store (&q->event_sent, 1);
  send_line (fd, "{\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":"
                 "\"disk1\",\"path\":\"/machine/peripheral/disk1\"}}\n");
  read_command (fd, q); /* blockdev-del disk1 */
  send_line (fd, "{\"return\":{}}\n");
  close (fd);
  return NULL;
}

struct outcome
{
  struct fake_qemu *qemu;
  int calls;
  char log[512];
};

static void
record (struct outcome *o, const char *what, const shim_error *err)
{
  size_t used = strlen (o->log);
  snprintf (o->log + used, sizeof o->log - used, "%s%s:%s", used ? "; " : "",
            what, err ? err->msg : "ok");
  o->calls++;
}

static void
on_add_done (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  record (data, "blockdev-add", err);
}

static void
on_del_done (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  struct outcome *o = data;
  /* Neither the reply nor another device's or a path-only event ends it.  */
  ck_assert_msg (atomic_load (&o->qemu->event_sent) == 1,
                 "device_del completed before its DEVICE_DELETED event");
  record (o, "device_del", err);
}

static void
on_node_done (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  record (data, "blockdev-del", err);
}

/* A fake QEMU's socket: a fresh directory and an unbound unix socket.  */
struct qmp_endpoint
{
  char dir[32];
  struct sockaddr_un addr;
};

static void
endpoint_init (struct qmp_endpoint *e, struct fake_qemu *q)
{
  snprintf (e->dir, sizeof e->dir, "/tmp/lcow-qmp.XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (e->dir));
  e->addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
  snprintf (e->addr.sun_path, sizeof e->addr.sun_path, "%s/qmp.sock", e->dir);
  q->listen_fd = socket (AF_UNIX, SOCK_STREAM, 0);
}

static void
endpoint_bind (struct qmp_endpoint *e, struct fake_qemu *q)
{
  ck_assert_int_eq (
      bind (q->listen_fd, (struct sockaddr *) &e->addr, sizeof e->addr), 0);
}

/* Closes the client, proves the loop empty, removes the socket.  */
static void
endpoint_finish (struct qmp_endpoint *e, struct fake_qemu *q,
                 struct qmp_client *c, uv_loop_t *loop)
{
  qmp_client_close (c);
  uv_run (loop, UV_RUN_DEFAULT);
  ck_assert_int_eq (uv_loop_close (loop), 0);
  close (q->listen_fd);
  unlink (e->addr.sun_path);
  rmdir (e->dir);
}

START_TEST (commands_and_awaited_event)
{
  struct fake_qemu qemu = { 0 };
  struct qmp_endpoint e;
  endpoint_init (&e, &qemu);
  endpoint_bind (&e, &qemu);
  ck_assert_int_eq (listen (qemu.listen_fd, 1), 0);
  pthread_t thread;
  pthread_create (&thread, NULL, fake_qemu_run, &qemu);

  uv_loop_t loop;
  uv_loop_init (&loop);
  struct qmp_client *q = qmp_client_new (&loop, e.addr.sun_path);
  struct outcome o = { .qemu = &qemu };
  qmp_client_execute (q, "blockdev-add", "{\"node-name\":\"disk1\"}",
                      on_add_done, &o);
  qmp_client_execute_until (q, "device_del", "{\"id\":\"disk1\"}",
                            "DEVICE_DELETED", "disk1", on_del_done, &o);
  qmp_client_execute (q, "blockdev-del", "{\"node-name\":\"disk1\"}",
                      on_node_done, &o);
  while (o.calls < 3 && uv_run (&loop, UV_RUN_ONCE))
    ;
  pthread_join (thread, NULL);
  ck_assert_str_eq (o.log, "blockdev-add:QMP: Could not open 'x'; "
                           "device_del:ok; blockdev-del:ok");
  ck_assert_str_eq (
      qemu.received,
      "{\"execute\":\"qmp_capabilities\"}\n"
      "{\"execute\":\"blockdev-add\",\"arguments\":{\"node-name\":\"disk1\"}}"
      "\n"
      "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"disk1\"}}\n"
      "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"disk1\"}}"
      "\n");
  endpoint_finish (&e, &qemu, q, &loop);
}
END_TEST

static void
on_closed_done (void *data, const json_value *ret, const shim_error *err)
{
  (void) ret;
  ck_assert_ptr_nonnull (err);
  ck_assert_int_eq (err->code, GRPC_UNAVAILABLE);
  record (data, "waiting", err);
}

/* Closing the client fails what waits for an event, once.  */
START_TEST (close_fails_a_waiting_command)
{
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct qmp_client *q = qmp_client_new (&loop, "/nonexistent/qmp.sock");
  struct outcome o = { 0 };
  qmp_client_execute_until (q, "device_del", "{\"id\":\"disk3\"}",
                            "DEVICE_DELETED", "disk3", on_closed_done, &o);
  qmp_client_close (q);
  uv_run (&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq (o.calls, 1);
  ck_assert_int_eq (uv_loop_close (&loop), 0);
}
END_TEST

/* QEMU makes its socket a moment after it starts.  */
static void *
late_qemu_run (void *arg)
{
  struct fake_qemu *q = arg;
  usleep (150 * 1000);
  ck_assert_int_eq (listen (q->listen_fd, 1), 0);
  int fd = accept (q->listen_fd, NULL, NULL);
  send_line (fd, "{\"QMP\":{\"version\":{}}}\n");
  read_command (fd, q); /* qmp_capabilities */
  send_line (fd, "{\"return\":{}}\n");
  read_command (fd, q); /* query-status */
  send_line (fd, "{\"timestamp\":{},\"event\":\"STOP\"}\n");
  send_line (fd, "{\"return\":{\"status\":\"internal-error\","
                 "\"running\":false}}\n");
  close (fd);
  return NULL;
}

static void
on_event (void *data, const char *event, const json_value *event_data)
{
  struct outcome *o = data;
  ck_assert_ptr_null (event_data);
  record (o, event, NULL);
}

static void
on_status (void *data, const json_value *ret, const shim_error *err)
{
  struct outcome *o = data;
  ck_assert_ptr_null (err);
  const json_value *status = json_get (ret, "status");
  ck_assert_ptr_nonnull (status);
  record (o, status->str, NULL);
}

/* The watcher connects before QEMU has a socket (retrying), gets every
   event, and a command's return value reaches its callback.  */
START_TEST (watch_events_and_return_values)
{
  struct fake_qemu qemu = { 0 };
  struct qmp_endpoint e;
  endpoint_init (&e, &qemu);

  uv_loop_t loop;
  uv_loop_init (&loop);
  struct qmp_client *q = qmp_client_new (&loop, e.addr.sun_path);
  struct outcome o = { .qemu = &qemu };
  qmp_client_watch (q, on_event, &o);
  qmp_client_execute (q, "query-status", "{}", on_status, &o);
  /* The socket appears only after the first attempts failed.  */
  endpoint_bind (&e, &qemu);
  pthread_t thread;
  pthread_create (&thread, NULL, late_qemu_run, &qemu);
  while (o.calls < 2 && uv_run (&loop, UV_RUN_ONCE))
    ;
  pthread_join (thread, NULL);
  ck_assert_str_eq (o.log, "STOP:ok; internal-error:ok");
  endpoint_finish (&e, &qemu, q, &loop);
}
END_TEST

Suite *
qmp_suite (void)
{
  Suite *s = suite_create ("qmp");
  TCase *t = tcase_create ("client");
  tcase_add_test (t, commands_and_awaited_event);
  tcase_add_test (t, close_fails_a_waiting_command);
  tcase_add_test (t, watch_events_and_return_values);
  suite_add_tcase (s, t);
  return s;
}
