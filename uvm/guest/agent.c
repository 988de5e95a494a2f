#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"
#include "bridge_request.h"
#include "container.h"
#include "guest_io.h"
#include "proto/base/list.h"
#include "proto/base/strbuf.h"
#include "proto/ttrpc_frame.h"
#include "proto/base/xalloc.h"
#include "uvm/bridge/bridge_protocol.h"

/* After a process exits, how long its output may stay open (a background
   child holding the pipe) before the exit is reported anyway.  */
#define OUTPUT_DRAIN_MS 5000

/* A process, or a connection to a guest TCP port (port forward): its
   socket is stdin (host to port) and stdout (port to host), it has no pid
   and no container, and it "exits" (status 0) once both ways have ended,
   so that the host frees its key as for a process.  */
struct process
{
  struct list link;
  uint32_t key;
  bool connection;
  struct container *container;
  struct held_process held;
  bool started;
  bool exited;
  int status;
  int64_t exited_ms;
  /* stdout, stderr: open, and bytes sent that the host has not credited.  */
  int out_fd[2];
  uint32_t unacked[2];
  /* Bytes from the host for stdin, not yet written to the process.  */
  strbuf in;
  bool in_eof;
};

struct entry
{
  struct list link;
  struct container *c;
};

struct agent
{
  int bridge;
  int sigchld;
  struct list processes;
  size_t nprocesses;
  struct list containers;
  /* poll's set, kept between rounds: bridge, signalfd, then stdout,
     stderr and stdin of each process.  */
  struct pollfd *fds;
  size_t fds_cap;
};

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct process *
find_process (struct agent *a, uint32_t key)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &a->processes)
  {
    struct process *p = list_entry (pos, struct process, link);
    if (p->key == key)
      return p;
  }
  return NULL;
}

static struct entry *
find_container (struct agent *a, const char *id)
{
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &a->containers)
  {
    struct entry *e = list_entry (pos, struct entry, link);
    if (strcmp (container_id (e->c), id) == 0)
      return e;
  }
  return NULL;
}

static struct process *
process_or_fail (struct agent *a, uint32_t key, shim_error **err)
{
  struct process *p = find_process (a, key);
  if (p == NULL)
    shim_error_set (err, GRPC_NOT_FOUND, "process %u not found", key);
  return p;
}

static struct entry *
container_or_fail (struct agent *a, const char *id, shim_error **err)
{
  struct entry *e = find_container (a, id);
  if (e == NULL)
    shim_error_set (err, GRPC_NOT_FOUND, "container %s not found", id);
  return e;
}

static void
send_error (struct agent *a, uint32_t id, const shim_error *err)
{
  strbuf b = STRBUF_INIT;
  strbuf_printf (&b, "{\"code\":%d,\"error\":", err->code);
  strbuf_json_string (&b, err->msg, strlen (err->msg));
  strbuf_putc (&b, '}');
  bridge_frame_send (a->bridge, id, BRIDGE_TYPE_RESPONSE, b.data);
  strbuf_release (&b);
}

static void
send_credit (struct agent *a, uint32_t key, uint8_t stream, uint32_t n)
{
  uint8_t body[4] = { n >> 24, n >> 16, n >> 8, n };
  bridge_frame_send_bytes (a->bridge, key, BRIDGE_TYPE_CREDIT, stream, body,
                           sizeof body);
}

static void
close_output (struct agent *a, struct process *p, int i)
{
  if (p->out_fd[i] < 0)
    return;
  /* A terminal's master is also stdin: it closes with the process.  */
  if (!(p->held.tty && p->out_fd[i] == p->held.stdin_fd))
    close (p->out_fd[i]);
  p->out_fd[i] = -1;
  bridge_frame_send_bytes (a->bridge, p->key, BRIDGE_TYPE_DATA,
                           (uint8_t) (BRIDGE_STDOUT + i), NULL, 0);
}

static void
process_free (struct agent *a, struct process *p)
{
  close_output (a, p, 0);
  close_output (a, p, 1);
  if (p->held.stdin_fd >= 0)
    close (p->held.stdin_fd);
  if (p->held.start_fd >= 0)
    close (p->held.start_fd);
  if (p->held.status_fd >= 0)
    close (p->held.status_fd);
  strbuf_release (&p->in);
  list_remove (&p->link);
  a->nprocesses--;
  free (p);
}

/* The exit goes after the last output byte: the host publishes it once
   it has delivered everything before it.  Returns true when it did (p is
   freed).  */
static bool
maybe_report_exit (struct agent *a, struct process *p, bool force)
{
  if (!p->exited || (!force && (p->out_fd[0] >= 0 || p->out_fd[1] >= 0)))
    return false;
  cleanup_strbuf strbuf body = STRBUF_INIT;
  strbuf_printf (&body, "{\"type\":\"exit\",\"process\":%u,\"status\":%d",
                 p->key, p->status);
  /* A container's init: its termination log goes back to the host.  */
  cleanup_strbuf strbuf message = STRBUF_INIT;
  if (p->container != NULL && container_init_pid (p->container) == p->held.pid)
    container_termination_message (p->container, &message);
  if (message.len > 0)
    strbuf_printf (&body, ",\"termination_message\":%s", message.data);
  strbuf_putc (&body, '}');
  process_free (a, p);
  bridge_frame_send (a->bridge, 0, BRIDGE_TYPE_NOTIFY, body.data);
  return true;
}

/* ---- requests --------------------------------------------------------- */

static void
reply_pid (struct agent *a, uint32_t id, const char *type, pid_t pid)
{
  char body[96];
  snprintf (body, sizeof body, "{\"type\":\"%s\",\"pid\":%d}", type, pid);
  bridge_frame_send (a->bridge, id, BRIDGE_TYPE_RESPONSE, body);
}

static struct process *
add_process (struct agent *a, uint32_t key, struct container *c,
             const struct held_process *hp)
{
  struct process *p = xzalloc (sizeof *p);
  p->key = key;
  p->container = c;
  p->held = *hp;
  p->out_fd[0] = hp->stdout_fd;
  p->out_fd[1] = hp->stderr_fd;
  p->in = (strbuf) STRBUF_INIT;
  fcntl (hp->stdin_fd, F_SETFL, fcntl (hp->stdin_fd, F_GETFL) | O_NONBLOCK);
  list_add_tail (&a->processes, &p->link);
  a->nprocesses++;
  return p;
}

static int
do_create_or_exec (struct agent *a, const struct bridge_request *r,
                   shim_error **err)
{
  if (find_process (a, r->process) != NULL)
    return shim_error_set (err, GRPC_ALREADY_EXISTS, "process %u exists",
                           r->process);
  struct entry *e = NULL;
  struct container *created = NULL;
  struct oci_process *op = NULL;
  struct held_process hp;
  int ret = -1;
  if (r->kind == BRIDGE_REQUEST_CREATE)
    {
      if (find_container (a, r->container) != NULL)
        return shim_error_set (err, GRPC_ALREADY_EXISTS, "container %s exists",
                               r->container);
      if (container_create (r, &created, err) < 0)
        return -1;
      ret = container_spawn (created, NULL, &hp, err);
    }
  else if ((e = container_or_fail (a, r->container, err)) == NULL)
    return -1;
  else if (oci_process_parse (r->spec, r->spec_len, &op, err) == 0)
    ret = container_spawn (e->c, op, &hp, err);
  oci_process_free (op);
  if (ret < 0)
    {
      container_destroy (created);
      return -1;
    }
  if (created != NULL)
    {
      e = xzalloc (sizeof *e);
      e->c = created;
      list_add_tail (&a->containers, &e->link);
    }
  add_process (a, r->process, e->c, &hp);
  return hp.pid;
}

/* Loopback answers at once (accepted or refused); a listener whose
   backlog is full drops the SYN instead, and the agent waits no longer
   than this for it.  */
#define CONNECT_WAIT_MS 250

/* A connection to 127.0.0.1:port, the pod's localhost, as containerd's
   port forward makes in a runc pod's network namespace.  */
static int
do_connect (struct agent *a, const struct bridge_request *r, shim_error **err)
{
  if (find_process (a, r->process) != NULL)
    return shim_error_set (err, GRPC_ALREADY_EXISTS, "process %u exists",
                           r->process);
  int s = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = { .sin_family = AF_INET,
                            .sin_port = htons (r->port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int e = 0;
  if (s < 0)
    e = errno;
  else if (connect (s, (struct sockaddr *) &to, sizeof to) < 0)
    {
      e = errno;
      struct pollfd pfd = { s, POLLOUT, 0 };
      socklen_t len = sizeof e;
      if (e == EINPROGRESS)
        e = poll (&pfd, 1, CONNECT_WAIT_MS) == 1
                    && getsockopt (s, SOL_SOCKET, SO_ERROR, &e, &len) == 0
                ? e
                : ETIMEDOUT;
    }
  if (e != 0)
    {
      if (s >= 0)
        close (s);
      return shim_error_errno (err, GRPC_UNAVAILABLE, e,
                               "connect to 127.0.0.1:%u in the guest",
                               r->port);
    }
  int out = fcntl (s, F_DUPFD_CLOEXEC, 0);
  if (out < 0)
    {
      close (s);
      return shim_error_errno (err, GRPC_INTERNAL, errno, "dup");
    }
  fcntl (out, F_SETFL, fcntl (out, F_GETFL) | O_NONBLOCK);
  struct held_process hp = { .pid = 0,
                             .stdin_fd = s,
                             .stdout_fd = out,
                             .stderr_fd = -1,
                             .start_fd = -1,
                             .status_fd = -1 };
  struct process *p = add_process (a, r->process, NULL, &hp);
  p->connection = true;
  p->started = true;
  return 0;
}

static int
do_start (struct agent *a, const struct bridge_request *r, shim_error **err)
{
  struct process *p = process_or_fail (a, r->process, err);
  if (p == NULL)
    return -1;
  if (p->started)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "process %u already started", r->process);
  p->started = true;
  return held_process_start (&p->held, err) < 0 ? -1 : p->held.pid;
}

static int
do_signal (struct agent *a, const struct bridge_request *r, shim_error **err)
{
  struct process *p = find_process (a, r->process);
  if (p == NULL || p->exited)
    return shim_error_set (err, GRPC_NOT_FOUND,
                           "process %u: process already finished", r->process);
  if (p->connection)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "process %u is a connection: no signal",
                           r->process);
  if (r->signal == 0 || r->signal > 64)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT, "invalid signal %u",
                           r->signal);
  /* The whole container (kill --all) or the process itself.  */
  if (r->all)
    {
      container_signal_all (p->container, (int) r->signal);
      return 0;
    }
  if (kill (p->held.pid, (int) r->signal) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "signal %u",
                             r->signal);
  return 0;
}

static int
do_resize (struct agent *a, const struct bridge_request *r, shim_error **err)
{
  struct process *p = process_or_fail (a, r->process, err);
  if (p == NULL)
    return -1;
  if (!p->held.tty)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "process %u has no terminal", r->process);
  struct winsize ws = { .ws_row = (unsigned short) r->height,
                        .ws_col = (unsigned short) r->width };
  if (ioctl (p->held.stdout_fd, TIOCSWINSZ, &ws) < 0)
    return shim_error_errno (err, GRPC_INTERNAL, errno, "resize");
  return 0;
}

static int
do_delete (struct agent *a, const struct bridge_request *r, shim_error **err)
{
  struct entry *e = container_or_fail (a, r->container, err);
  if (e == NULL)
    return -1;
  /* Processes never started go with it; running ones are killed.  */
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &a->processes)
  {
    struct process *p = list_entry (pos, struct process, link);
    if (p->container == e->c)
      process_free (a, p);
  }
  container_destroy (e->c);
  list_remove (&e->link);
  free (e);
  return 0;
}

uint64_t
agent_uptime_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* One request's work, other than shutdown: 0 (reply, when not empty, is
   the answer) or -1 with err.  */
static int
serve_request (struct agent *a, struct bridge_request *r, strbuf *reply,
               shim_error **err)
{
  struct entry *e = NULL;
  switch (r->kind)
    {
    case BRIDGE_REQUEST_CREATE:
    case BRIDGE_REQUEST_EXEC:
      return do_create_or_exec (a, r, err);
    case BRIDGE_REQUEST_START:
      return do_start (a, r, err);
    case BRIDGE_REQUEST_SIGNAL:
      return do_signal (a, r, err);
    case BRIDGE_REQUEST_RESIZE:
      return do_resize (a, r, err);
    case BRIDGE_REQUEST_DELETE:
      return do_delete (a, r, err);
    case BRIDGE_REQUEST_STATS:
      if ((e = container_or_fail (a, r->container, err)) == NULL)
        return -1;
      container_stats (e->c, reply);
      return 0;
    case BRIDGE_REQUEST_UPDATE:
      if ((e = container_or_fail (a, r->container, err)) == NULL)
        return -1;
      return container_update (e->c, r->spec, r->spec_len, err);
    case BRIDGE_REQUEST_NETWORK:
      return containers_network (r->spec, r->spec_len, err);
    case BRIDGE_REQUEST_PING:
      strbuf_printf (reply,
                     "{\"type\":\"" BRIDGE_REQ_PING "\",\"uptime_ms\":%llu}",
                     (unsigned long long) agent_uptime_ms ());
      return 0;
    case BRIDGE_REQUEST_SETTIME:
      return guest_set_time (r->unix_ns, err);
    case BRIDGE_REQUEST_DISK_REMOVE:
      return container_disk_remove (r->scsi_target, err);
    case BRIDGE_REQUEST_VOLUME_UPDATE:
      if ((e = container_or_fail (a, r->container, err)) == NULL)
        return -1;
      return container_volume_update (e->c, r, err);
    case BRIDGE_REQUEST_CONNECT:
      return do_connect (a, r, err);
    case BRIDGE_REQUEST_SHUTDOWN:
    case BRIDGE_REQUEST_UNSUPPORTED:
      break;
    }
  agent_log (L_WARN, "unsupported bridge request", "type", r->type);
  return shim_error_set (err, GRPC_UNIMPLEMENTED, "unsupported request %s",
                         r->type);
}

/* Returns false when the agent should stop.  */
static bool
handle_request (struct agent *a, uint32_t id, const char *body, size_t len)
{
  struct bridge_request r;
  shim_error *err = NULL;
  if (bridge_request_decode (body, len, &r, &err) < 0)
    {
      agent_log (L_WARN, "invalid bridge request", "error", err->msg);
      send_error (a, id, err);
      shim_error_free (err);
      return true;
    }
  if (r.kind == BRIDGE_REQUEST_SHUTDOWN)
    {
      agent_log (L_INFO, "shutdown requested by the host");
      bridge_frame_send (a->bridge, id, BRIDGE_TYPE_RESPONSE,
                         "{\"type\":\"" BRIDGE_REQ_SHUTDOWN "\"}");
      bridge_request_release (&r);
      return false;
    }
  cleanup_strbuf strbuf reply = STRBUF_INIT;
  int v = serve_request (a, &r, &reply, &err);
  if (v < 0)
    {
      agent_log (L_WARN, "bridge request failed", "type", r.type, "error",
                 err->msg);
      send_error (a, id, err);
      shim_error_free (err);
    }
  else if (reply.len > 0)
    bridge_frame_send (a->bridge, id, BRIDGE_TYPE_RESPONSE, reply.data);
  else if (r.kind == BRIDGE_REQUEST_CREATE || r.kind == BRIDGE_REQUEST_EXEC
           || r.kind == BRIDGE_REQUEST_START)
    reply_pid (a, id, r.type, v);
  else
    {
      char ok[64];
      snprintf (ok, sizeof ok, "{\"type\":\"%s\"}", r.type);
      bridge_frame_send (a->bridge, id, BRIDGE_TYPE_RESPONSE, ok);
    }
  bridge_request_release (&r);
  return true;
}

/* ---- streams ---------------------------------------------------------- */

static void
on_host_data (struct agent *a, const struct ttrpc_header *h,
              const uint8_t *body)
{
  struct process *p = find_process (a, h->stream_id);
  if (h->type == BRIDGE_TYPE_CREDIT)
    {
      if (p == NULL || h->length != 4 || h->flags < BRIDGE_STDOUT
          || h->flags > BRIDGE_STDERR)
        return;
      uint32_t n = (uint32_t) body[0] << 24 | (uint32_t) body[1] << 16
                   | (uint32_t) body[2] << 8 | body[3];
      uint32_t *u = &p->unacked[h->flags - BRIDGE_STDOUT];
      *u = n > *u ? 0 : *u - n;
      return;
    }
  if (p == NULL || h->flags != BRIDGE_STDIN || p->in_eof)
    return;
  if (h->length == 0)
    p->in_eof = true;
  else if (p->in.len + h->length <= BRIDGE_WINDOW)
    strbuf_append (&p->in, body, h->length);
  else
    agent_log (L_WARN, "host overran the stdin window; bytes dropped");
}

/* Writes what stdin holds; credits the host for what the process took.  */
static void
pump_stdin (struct agent *a, struct process *p)
{
  size_t done = 0;
  while (done < p->in.len && p->held.stdin_fd >= 0)
    {
      ssize_t n
          = write (p->held.stdin_fd, p->in.data + done, p->in.len - done);
      if (n > 0)
        done += (size_t) n;
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && errno == EAGAIN)
        break;
      else
        {
          /* The process closed its stdin: what is left is dropped.  */
          done = p->in.len;
          p->in_eof = true;
        }
    }
  if (done > 0)
    {
      memmove (p->in.data, p->in.data + done, p->in.len - done);
      p->in.len -= done;
      send_credit (a, p->key, BRIDGE_STDIN, (uint32_t) done);
    }
  if (p->in_eof && p->in.len == 0 && p->held.stdin_fd >= 0 && !p->held.tty)
    {
      /* The socket is stdout too: only shutdown sends the peer its end.  */
      if (p->connection)
        shutdown (p->held.stdin_fd, SHUT_WR);
      close (p->held.stdin_fd);
      p->held.stdin_fd = -1;
      if (p->connection)
        {
          p->exited = true;
          p->exited_ms = now_ms ();
          maybe_report_exit (a, p, false);
        }
    }
}

/* Returns true when p is gone: its output ended after its exit, which was
   reported and the record freed.  */
static bool
pump_output (struct agent *a, struct process *p, int i)
{
  static char buf[BRIDGE_DATA_MAX];
  size_t room = BRIDGE_WINDOW - p->unacked[i];
  if (room > sizeof buf)
    room = sizeof buf;
  ssize_t n = read (p->out_fd[i], buf, room);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return false;
  if (n <= 0) /* EOF, or EIO from a terminal whose last user left */
    {
      close_output (a, p, i);
      return maybe_report_exit (a, p, false);
    }
  p->unacked[i] += (uint32_t) n;
  bridge_frame_send_bytes (a->bridge, p->key, BRIDGE_TYPE_DATA,
                           (uint8_t) (BRIDGE_STDOUT + i), buf, (size_t) n);
  return false;
}

static void
reap (struct agent *a)
{
  struct signalfd_siginfo si;
  while (read (a->sigchld, &si, sizeof si) == sizeof si)
    ;
  int status;
  pid_t pid;
  while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
    {
      struct list *pos, *tmp;
      list_for_each_safe (pos, tmp, &a->processes)
      {
        struct process *p = list_entry (pos, struct process, link);
        if (p->held.pid != pid || p->exited)
          continue;
        p->exited = true;
        p->exited_ms = now_ms ();
        p->status = WIFEXITED (status) ? WEXITSTATUS (status)
                                       : 128 + WTERMSIG (status);
        maybe_report_exit (a, p, false);
        break;
      }
    }
}

/* ---- loop ------------------------------------------------------------- */

/* Returns 1 to go on, 0 after a shutdown request, -1 when the host left.  */
static int
read_bridge (struct agent *a)
{
  static uint8_t body[BRIDGE_MESSAGE_MAX + 1];
  uint8_t hdr[TTRPC_HEADER_LEN];
  if (read_all (a->bridge, hdr, sizeof hdr) < 0)
    {
      agent_log (L_WARN, "bridge closed by the host");
      return -1;
    }
  struct ttrpc_header h;
  ttrpc_header_decode (hdr, &h);
  if (h.length > BRIDGE_MESSAGE_MAX)
    {
      agent_log (L_ERROR, "oversized bridge message");
      return -1;
    }
  if (read_all (a->bridge, body, h.length) < 0)
    return -1;
  body[h.length] = '\0';
  if (h.type == BRIDGE_TYPE_DATA || h.type == BRIDGE_TYPE_CREDIT)
    on_host_data (a, &h, body);
  else if (h.type == BRIDGE_TYPE_REQUEST)
    return handle_request (a, h.stream_id, (const char *) body, h.length) ? 1
                                                                          : 0;
  return 1;
}

/* This round's poll set: the bridge, SIGCHLD, then each process's two
   outputs (while its window is open) and its stdin (while input waits);
   the timeout is the nearest end of an exited process's drain.  */
static size_t
poll_set (struct agent *a, int *timeout)
{
  size_t n = 2;
  if (a->fds_cap < 2 + 3 * a->nprocesses)
    {
      a->fds_cap = 2 * (2 + 3 * a->nprocesses);
      a->fds = xrealloc (a->fds, a->fds_cap * sizeof *a->fds);
    }
  struct pollfd *fds = a->fds;
  fds[0] = (struct pollfd){ a->bridge, POLLIN, 0 };
  fds[1] = (struct pollfd){ a->sigchld, POLLIN, 0 };
  *timeout = -1;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &a->processes)
  {
    struct process *p = list_entry (pos, struct process, link);
    for (int i = 0; i < 2; i++)
      fds[n++] = (struct pollfd){ p->unacked[i] < BRIDGE_WINDOW && p->started
                                      ? p->out_fd[i]
                                      : -1,
                                  POLLIN, 0 };
    fds[n++]
        = (struct pollfd){ p->in.len > 0 ? p->held.stdin_fd : -1, POLLOUT, 0 };
    if (p->exited)
      {
        int64_t left = p->exited_ms + OUTPUT_DRAIN_MS - now_ms ();
        if (left < 0)
          left = 0;
        if (*timeout < 0 || left < *timeout)
          *timeout = (int) left;
      }
  }
  return n;
}

/* After a poll of n entries: output first (read in this round, it goes
   before exits), then stdin, and the exits whose output never ended.  */
static void
pump_processes (struct agent *a, size_t n)
{
  struct pollfd *fds = a->fds;
  size_t k = 2;
  struct list *pos, *tmp;
  list_for_each_safe (pos, tmp, &a->processes)
  {
    struct process *p = list_entry (pos, struct process, link);
    if (k + 3 > n)
      break; /* added by this round's request */
    short o0 = fds[k].revents, o1 = fds[k + 1].revents;
    k += 3;
    /* Its stdout ending may report its exit and free it.  */
    if (o0 && p->out_fd[0] >= 0 && pump_output (a, p, 0))
      continue;
    if (o1 && p->out_fd[1] >= 0)
      pump_output (a, p, 1);
  }
  list_for_each_safe (pos, tmp, &a->processes)
  {
    struct process *p = list_entry (pos, struct process, link);
    if (p->in.len > 0 || (p->in_eof && p->held.stdin_fd >= 0))
      pump_stdin (a, p);
    if (p->exited && now_ms () - p->exited_ms >= OUTPUT_DRAIN_MS)
      {
        agent_log (L_WARN, "output still open after the process exited; "
                           "reporting the exit");
        maybe_report_exit (a, p, true);
      }
  }
}

int
agent_serve (int fd)
{
  struct agent a = { .bridge = fd };
  list_init (&a.processes);
  list_init (&a.containers);
  signal (SIGPIPE, SIG_IGN);
  /* Orphans of container processes come here to be reaped.  */
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  sigset_t chld;
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_BLOCK, &chld, NULL);
  a.sigchld = signalfd (-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  shim_error *err = NULL;
  if (containers_init (&err) < 0)
    {
      agent_log (L_ERROR, "containers unavailable", "error", err->msg);
      shim_error_free (err);
    }
  int rc = 1;
  for (;;)
    {
      int timeout;
      size_t n = poll_set (&a, &timeout);
      if (poll (a.fds, n, timeout) < 0 && errno != EINTR)
        break;
      int r = a.fds[0].revents ? read_bridge (&a) : 1;
      pump_processes (&a, n);
      if (a.fds[1].revents)
        reap (&a);
      if (r <= 0)
        {
          rc = r == 0 ? 0 : 1;
          break;
        }
    }
  /* What is left goes with the agent (the VM powers off after it; the
     fuzz harness runs it again).  */
  while (!list_empty (&a.processes))
    process_free (&a, list_entry (a.processes.next, struct process, link));
  while (!list_empty (&a.containers))
    {
      struct entry *e = list_entry (a.containers.next, struct entry, link);
      container_destroy (e->c);
      list_remove (&e->link);
      free (e);
    }
  close (a.sigchld);
  free (a.fds);
  return rc;
}
