/* The shim daemon: one libuv loop serving the Task API on the inherited
   listener, publishing events, logging into the bundle's log FIFO.  It
   exits when Shutdown finds no task left (or on SIGTERM/SIGINT): the VMM is
   stopped, events are flushed (at most 5 s), the socket is removed, every
   handle is closed and the loop is proven empty.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "event_publisher.h"
#include "proto/file_io.h"
#include "proto/log.h"
#include "proto/xalloc.h"
#include "shim_address.h"
#include "shim_cli.h"
#include "task_service.h"
#include "ttrpc_server.h"

#define EVENT_DRAIN_MS 5000
#define LOG_FLUSH_MS 100

struct shim_daemon
{
  uv_loop_t loop;
  struct ttrpc_server *server;
  struct task_service *tasks;
  struct event_publisher *events;
  uv_signal_t sigterm, sigint;
  uv_timer_t log_timer;
  char *socket_path;
  bool stopping;
  int pending;
};

static void
on_handle_closed (uv_handle_t *h)
{
  (void) h;
}

static void
on_part_closed (void *data)
{
  struct shim_daemon *d = data;
  if (--d->pending > 0)
    return;
  uv_close ((uv_handle_t *) &d->sigterm, on_handle_closed);
  uv_close ((uv_handle_t *) &d->sigint, on_handle_closed);
  uv_close ((uv_handle_t *) &d->log_timer, on_handle_closed);
}

static void
stop (void *data)
{
  struct shim_daemon *d = data;
  if (d->stopping)
    return;
  d->stopping = true;
  log_info ("shim shutting down");
  task_service_close (d->tasks);
  d->tasks = NULL;
  if (d->socket_path != NULL)
    unlink (d->socket_path);
  d->pending = 2;
  ttrpc_server_close (d->server, on_part_closed, d);
  event_publisher_close (d->events, EVENT_DRAIN_MS, on_part_closed, d);
}

static void
on_signal (uv_signal_t *s, int signum)
{
  log_info ("received signal %d", signum);
  stop (s->data);
}

static void
on_log_timer (uv_timer_t *t)
{
  (void) t;
  log_flush ();
}

/* The address file containerd reads tells which socket is ours.  */
static char *
our_socket_path (const struct shim_flags *f)
{
  if (f->socket != NULL)
    return xstrdup (shim_socket_path (f->socket));
  char *text = NULL;
  size_t len = 0;
  if (read_file_capped (-1, "address", 4096, &text, &len, NULL) < 0)
    return NULL;
  char *path = xstrdup (shim_socket_path (text));
  free (text);
  return path;
}

static int
listen_on_path (const char *path)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
  unlink (path);
  mode_t old = umask (0177);
  int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
  umask (old);
  if (r < 0 || listen (fd, 128) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

int
shim_daemon_main (const struct shim_flags *f, const char *self_exe)
{
  signal (SIGPIPE, SIG_IGN);
  /* containerd created the log FIFO; O_RDWR never blocks or gets EPIPE.  */
  int log_fd = open ("log", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  log_set_fd (log_fd >= 0 ? log_fd : dup (STDERR_FILENO));
  log_set_level (f->debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
  log_add_context ("namespace", f->ns);
  log_add_context ("runtime", "io.containerd.lcow.v2");

  struct shim_daemon d = { 0 };
  uv_loop_init (&d.loop);
  d.socket_path = our_socket_path (f);
  int listen_fd = 3;
  if (f->socket != NULL)
    {
      listen_fd = listen_on_path (d.socket_path);
      if (listen_fd < 0)
        {
          log_error ("listen on %s: %s", d.socket_path, strerror (errno));
          return 1;
        }
    }

  const char *ttrpc_address = getenv ("TTRPC_ADDRESS");
  d.events = event_publisher_new (&d.loop, ttrpc_address, f->ns);
  static const struct ttrpc_server_limits limits = {
    .max_calls_per_conn = 4096,
    .max_queued_reply_bytes = 16u << 20,
  };
  d.server = ttrpc_server_new (&d.loop, &limits);
  struct task_service_config tc = {
    .loop = &d.loop,
    .ns = f->ns,
    .self_exe = self_exe,
    .state_root = STATE_ROOT_DEFAULT,
    .events = d.events,
    .on_shutdown = stop,
    .data = &d,
  };
  d.tasks = task_service_new (&tc);
  task_service_register (d.tasks, d.server);
  shim_error *err = NULL;
  if (ttrpc_server_serve_fd (d.server, listen_fd, &err) < 0)
    {
      log_error ("%s", err->msg);
      shim_error_free (err);
      return 1;
    }

  uv_signal_init (&d.loop, &d.sigterm);
  uv_signal_init (&d.loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start (&d.sigterm, on_signal, SIGTERM);
  uv_signal_start (&d.sigint, on_signal, SIGINT);
  uv_timer_init (&d.loop, &d.log_timer);
  uv_timer_start (&d.log_timer, on_log_timer, LOG_FLUSH_MS, LOG_FLUSH_MS);
  uv_unref ((uv_handle_t *) &d.log_timer);

  log_entry (LOG_LEVEL_INFO, "shim started",
             (struct log_field[]){ { "id", f->id ? f->id : "" },
                                   { "socket", d.socket_path ? d.socket_path : "" } },
             2);
  uv_run (&d.loop, UV_RUN_DEFAULT);

  int r = uv_loop_close (&d.loop);
  if (r != 0)
    log_error ("event loop not empty at exit: %s", uv_strerror (r));
  else
    log_debug ("event loop closed empty");
  uint64_t dropped = log_dropped_lines ();
  if (dropped)
    log_warn ("%llu log lines were dropped (log reader too slow)",
              (unsigned long long) dropped);
  free (d.socket_path);
  log_close ();
  return r == 0 ? 0 : 1;
}
