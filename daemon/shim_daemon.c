/* The shim daemon: one libuv loop serving the Task API on the inherited
   listener, publishing events, logging into the bundle's log FIFO.  It
   exits when Shutdown finds no task left (or on SIGTERM/SIGINT): the VMM is
   stopped, events are flushed (at most 5 s), the socket is removed, every
   handle is closed and the loop is proven empty.  */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "event_publisher.h"
#include "loop_watch.h"
#include "proto/base/file_io.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "shim_address.h"
#include "shim_cli.h"
#include "shim_socket.h"
#include "migration_service.h"
#include "task_service.h"
#include "ttrpc_server.h"

#define EVENT_DRAIN_MS 5000
#define LOG_FLUSH_MS 100
/* A daemon with no task for this long, and either no client or no bundle
   (its working directory, removed), exits: containerd gave up on it (a
   start that failed after the address was written; containerd 1.6 may even
   keep the connection open) and will not call Shutdown.  */
#define IDLE_EXIT_MS 5000
#define IDLE_CHECK_MS 1000

struct shim_daemon
{
  uv_loop_t loop;
  struct ttrpc_server *server;
  struct task_service *tasks;
  struct event_publisher *events;
  uv_signal_t sigterm, sigint;
  uv_timer_t log_timer;
  uv_timer_t idle_timer;
  struct loop_watch watch;
  uint64_t idle_ms;
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
  uv_close ((uv_handle_t *) &d->idle_timer, on_handle_closed);
  loop_watch_close (&d->watch);
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
on_idle_timer (uv_timer_t *t)
{
  struct shim_daemon *d = t->data;
  if (d->stopping)
    return;
  struct stat cwd;
  bool bundle_gone = stat (".", &cwd) == 0 && cwd.st_nlink == 0;
  bool idle
      = task_service_is_empty (d->tasks)
        && (bundle_gone || ttrpc_server_connection_count (d->server) == 0);
  d->idle_ms = idle ? d->idle_ms + IDLE_CHECK_MS : 0;
  if (d->idle_ms >= IDLE_EXIT_MS)
    {
      log_info ("no task for %d ms, and no client or no bundle", IDLE_EXIT_MS);
      stop (d);
    }
}

static void
on_log_timer (uv_timer_t *t)
{
  (void) t;
  log_flush ();
}

/* The socket we serve: the -socket flag's, or the inherited listener's own
   name (the bundle, with its address file, may already be gone).  */
static char *
our_socket_path (const struct shim_flags *f, int inherited_fd)
{
  if (f->socket != NULL)
    return xstrdup (shim_socket_path (f->socket));
  struct sockaddr_un sa;
  socklen_t len = sizeof sa;
  if (getsockname (inherited_fd, (struct sockaddr *) &sa, &len) < 0
      || sa.sun_family != AF_UNIX
      || len <= offsetof (struct sockaddr_un, sun_path)
      || sa.sun_path[0] == '\0')
    return NULL;
  return xstrndup (sa.sun_path, len - offsetof (struct sockaddr_un, sun_path));
}

/* The shim log: the FIFO containerd made in the bundle (else stderr),
   stderr itself too, the level and the fields every line carries.  */
static void
open_shim_log (const struct shim_flags *f)
{
  /* containerd created the log FIFO; O_RDWR never blocks or gets EPIPE.  */
  int log_fd = open ("log", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  log_set_fd (log_fd >= 0 ? log_fd : dup (STDERR_FILENO));
  /* What writes to stderr itself (a sanitizer's report: GCC's UBSan
     ignores log_path next to ASan) reaches the shim log too, not the
     /dev/null containerd gives the daemon.  */
  if (log_fd >= 0)
    dup2 (log_fd, STDERR_FILENO);
  log_set_level (f->debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
  log_add_context ("namespace", f->ns);
  log_add_context ("runtime", "io.containerd.lcow.v2");
}

/* The listening socket: inherited from start (fd 3), or made at -socket;
   -1 (logged) when it cannot be.  */
static int
take_listener (const struct shim_flags *f, struct shim_daemon *d)
{
  int listen_fd = 3;
  /* start clears close-on-exec so we inherit the listener; set it again,
     or every VMM would hold the shim's socket (and keep it "served" for
     delete after the shim died).  */
  fcntl (listen_fd, F_SETFD, FD_CLOEXEC);
  d->socket_path = our_socket_path (f, listen_fd);
  if (f->socket != NULL)
    {
      unlink (d->socket_path);
      listen_fd = shim_socket_listen (d->socket_path);
      if (listen_fd < 0)
        {
          log_error ("listen on %s: %s", d->socket_path, strerror (errno));
          return -1;
        }
    }
  return listen_fd;
}

/* Signals that stop the shim, the log's flush, the idle check.  */
static void
start_watchers (struct shim_daemon *d)
{
  uv_signal_init (&d->loop, &d->sigterm);
  uv_signal_init (&d->loop, &d->sigint);
  d->sigterm.data = d->sigint.data = d;
  uv_signal_start (&d->sigterm, on_signal, SIGTERM);
  uv_signal_start (&d->sigint, on_signal, SIGINT);
  uv_timer_init (&d->loop, &d->log_timer);
  uv_timer_start (&d->log_timer, on_log_timer, LOG_FLUSH_MS, LOG_FLUSH_MS);
  uv_unref ((uv_handle_t *) &d->log_timer);
  uv_timer_init (&d->loop, &d->idle_timer);
  d->idle_timer.data = d;
  uv_timer_start (&d->idle_timer, on_idle_timer, IDLE_CHECK_MS, IDLE_CHECK_MS);
  uv_unref ((uv_handle_t *) &d->idle_timer);
}

int
shim_daemon_main (const struct shim_flags *f, const char *self_exe)
{
  signal (SIGPIPE, SIG_IGN);
  /* A fixed threshold: every buffer of 128 KiB or more (a frame being
     read, a reply queue) is its own mapping, returned when freed; glibc's
     sliding threshold would put the next ones in the heap after the first
     free, where they pin what is below them.  */
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
  open_shim_log (f);

  struct shim_daemon d = { 0 };
  uv_loop_init (&d.loop);
  loop_watch_start (&d.loop, &d.watch);
  int listen_fd = take_listener (f, &d);
  if (listen_fd < 0)
    return 1;

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
  migration_service_register (d.tasks, d.server);
  shim_error *err = NULL;
  if (ttrpc_server_serve_fd (d.server, listen_fd, &err) < 0)
    {
      log_error ("%s", err->msg);
      shim_error_free (err);
      return 1;
    }

  start_watchers (&d);

  log_entry (
      LOG_LEVEL_INFO, "shim started",
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
