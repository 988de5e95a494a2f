/* The guest's connections: the host vsock listeners, the entropy the
   guest reads at boot, its log (forwarded into the shim log at a bounded
   rate) and the GCS bridge with its requests and streams.  */
#include "uvm_private.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uvm/bridge/bridge_conn.h"
#include "uvm/vsock/gcs_log_parser.h"
#include "proto/base/cleanup.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/vmm/vmm_process.h"
#include "uvm/vsock/vsock_port.h"

/* After the VMM exits, how long its log connection may take to end.  */
#define LOG_DRAIN_MS 2000

/* Guest log lines the shim log takes: a steady rate and a burst (a boot
   logs a few hundred), and how often the lines dropped are counted.  */
#define GUEST_LOG_LINES_PER_S 200

#define GUEST_LOG_BURST 1000
#define LOG_REPORT_MS 1000
/* How long the guest may take to set the pod's NIC up.  */
#define NETWORK_TIMEOUT_MS 10000

/* Guest log bytes handled per loop iteration (see read_budget.h).  */
#define GUEST_LOG_READ_BUDGET (64u << 10)

struct stream_conn
{
  uv_pipe_t pipe;
  struct uvm *owner;
  char buffer[16384];
};

static void
on_conn_closed (uv_handle_t *h)
{
  struct stream_conn *c = (struct stream_conn *) h;
  struct uvm *u = c->owner;
  free (c);
  u->open_handles--;
  uvm_maybe_free (u);
}

static struct stream_conn *
adopt (struct uvm *u, int fd)
{
  struct stream_conn *c = xzalloc (sizeof *c);
  c->owner = u;
  uv_pipe_init (u->loop, &c->pipe, 0);
  u->open_handles++;
  if (uv_pipe_open (&c->pipe, fd) < 0)
    {
      close (fd);
      uv_close ((uv_handle_t *) &c->pipe, on_conn_closed);
      return NULL;
    }
  return c;
}

static void
close_conn (struct stream_conn **c)
{
  if (*c != NULL)
    {
      uv_close ((uv_handle_t *) &(*c)->pipe, on_conn_closed);
      *c = NULL;
    }
}

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct stream_conn *c = (struct stream_conn *) h;
  (void) suggested;
  *buf = uv_buf_init (c->buffer, sizeof c->buffer);
}

/* ---- entropy ---------------------------------------------------------- */

static void
close_entropy (struct uvm *u)
{
  if (u->guest.entropy_fd >= 0)
    close (u->guest.entropy_fd);
  u->guest.entropy_fd = -1;
}

static void
on_entropy_conn (void *data, int fd)
{
  struct uvm *u = data;
  u->guest.entropy_listener = NULL;
  if (u->incoming)
    {
      /* The guest read its entropy at its boot, on the source.  */
      close_entropy (u);
      u->guest.entropy_fd = fd;
      return;
    }
  uint8_t buf[LINUX_ENTROPY_BYTES];
  size_t have = 0;
  while (have < sizeof buf)
    {
      ssize_t n = getrandom (buf + have, sizeof buf - have, 0);
      if (n < 0 && errno != EINTR)
        break;
      if (n > 0)
        have += (size_t) n;
    }
  /* A fresh socket's buffer holds 512 bytes: this write does not block.  */
  ssize_t w = write (fd, buf, have);
  log_entry (
      LOG_LEVEL_DEBUG, "entropy written",
      (struct log_field[]){ { "uvm-id", u->id },
                            { "ok", w == (ssize_t) have ? "true" : "false" } },
      2);
  /* Half-close rather than close: a VMM that relays the port (QEMU's
     virtio-serial chardev) drops the relay on a hangup, possibly before the
     guest has read the bytes, while an EOF arrives after them.  */
  shutdown (fd, SHUT_WR);
  close_entropy (u);
  u->guest.entropy_fd = fd;
}

/* ---- guest log -------------------------------------------------------- */

static void
report_log_drops (struct uvm *u)
{
  uint64_t n = rate_limit_take_dropped (&u->guest.log_rate);
  if (n == 0)
    return;
  char count[24];
  snprintf (count, sizeof count, "%llu", (unsigned long long) n);
  log_entry (LOG_LEVEL_WARN, "guest log lines dropped",
             (struct log_field[]){ { "uvm-id", u->id }, { "count", count } },
             2);
}

static void
on_log_report (uv_timer_t *t)
{
  report_log_drops (t->data);
}

static void
finish_log (struct uvm *u)
{
  if (u->guest.log_finished)
    return;
  u->guest.log_finished = true;
  if (u->guest.log_parser != NULL)
    gcs_log_parser_finish (u->guest.log_parser);
  uv_timer_stop (&u->guest.log_report_timer);
  report_log_drops (u);
  vsock_listener_close (u->guest.log_listener);
  u->guest.log_listener = NULL;
  close_conn (&u->guest.log_conn);
  uv_timer_stop (&u->guest.drain_timer);
  uvm_maybe_report_exit (u);
}

static void
on_drain_timeout (uv_timer_t *t)
{
  struct uvm *u = t->data;
  log_warn ("uvm %s: guest log still open %d ms after the VMM exited", u->id,
            LOG_DRAIN_MS);
  finish_log (u);
}

/* The guest writes to the shim log at a bounded rate: beyond it lines are
   counted, and the count logged once a second.  */
static void
emit_guest_log (void *data, const struct gcs_log_entry *e)
{
  struct uvm *u = data;
  if (rate_limit_take (&u->guest.log_rate, uv_now (u->loop)))
    log_entry (e->level, e->msg, e->fields, e->nfields);
  else if (!uv_is_active ((uv_handle_t *) &u->guest.log_report_timer))
    uv_timer_start (&u->guest.log_report_timer, on_log_report, LOG_REPORT_MS,
                    0);
}

static void
on_log_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct stream_conn *c = (struct stream_conn *) s;
  struct uvm *u = c->owner;
  if (n < 0)
    {
      finish_log (u);
      return;
    }
  uvm_note_progress (u);
  gcs_log_parser_feed (u->guest.log_parser, buf->base, (size_t) n);
  if (!read_budget_spend (&u->guest.log_budget, (size_t) n))
    uv_read_stop (s);
}

static void
on_log_budget_refill (void *data)
{
  struct uvm *u = data;
  if (u->guest.log_conn != NULL)
    uv_read_start ((uv_stream_t *) &u->guest.log_conn->pipe, on_alloc,
                   on_log_read);
}

static void
on_log_conn (void *data, int fd)
{
  struct uvm *u = data;
  u->guest.log_listener = NULL;
  u->guest.log_conn = adopt (u, fd);
  if (u->guest.log_conn == NULL)
    {
      finish_log (u);
      return;
    }
  u->guest.log_parser = gcs_log_parser_new (u->id, emit_guest_log, u);
  rate_limit_init (&u->guest.log_rate, GUEST_LOG_LINES_PER_S, GUEST_LOG_BURST,
                   uv_now (u->loop));
  uv_read_start ((uv_stream_t *) &u->guest.log_conn->pipe, on_alloc,
                 on_log_read);
}

/* ---- GCS bridge ------------------------------------------------------- */

static void
on_bridge_read (void *data)
{
  uvm_note_progress (data);
}

/* The guest has set the pod's NIC up: the UVM has started.  */
static void
on_network_configured (void *data, const char *body, size_t len,
                       const shim_error *err)
{
  struct uvm *u = data;
  (void) body;
  (void) len;
  if (err != NULL)
    {
      uvm_fail_start (u, GRPC_FAILED_PRECONDITION, "pod network: %s",
                      err->msg);
      return;
    }
  log_entry (LOG_LEVEL_INFO, "pod network configured in the guest",
             (struct log_field[]){ { "uvm-id", u->id },
                                   { "interface", u->net.nic.ifname },
                                   { "mac", u->net.nic.mac },
                                   { "address", u->net.nic.naddresses
                                                    ? u->net.nic.addresses[0]
                                                    : "" } },
             4);
  uvm_report_started (u, NULL);
}

static void
on_hello (struct uvm *u, struct bridge_hello *hello)
{
  shim_error *err = NULL;
  u->guest.present = true;
  u->guest.hello = *hello;
  *hello = (struct bridge_hello){ 0 };
  char cpus[24], mem[24], up[24];
  snprintf (up, sizeof up, "%llu",
            (unsigned long long) u->guest.hello.uptime_ms);
  snprintf (cpus, sizeof cpus, "%llu",
            (unsigned long long) u->guest.hello.cpus);
  snprintf (mem, sizeof mem, "%llu",
            (unsigned long long) u->guest.hello.memory_mb);
  log_entry (
      LOG_LEVEL_INFO, "guest agent connected",
      (struct log_field[]){ { "uvm-id", u->id },
                            { "guest.cmdline", u->guest.hello.cmdline },
                            { "guest.kernel", u->guest.hello.kernel_release },
                            { "guest.root", u->guest.hello.root },
                            { "guest.cpus", cpus },
                            { "guest.memory_mb", mem },
                            { "guest.uptime_ms", up } },
      7);
  if (uvm_write_record (u, &err) < 0)
    {
      log_warn ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
      err = NULL;
    }
  if (!u->net.nic_connected)
    {
      uvm_report_started (u, NULL);
      return;
    }
  /* Containers start once the guest has the pod's NIC.  */
  char *body = pod_nic_guest_body (&u->net.nic);
  if (uvm_request (u, body, NETWORK_TIMEOUT_MS, on_network_configured, u, &err)
      < 0)
    {
      uvm_fail_start (u, GRPC_FAILED_PRECONDITION, "pod network: %s",
                      err->msg);
      shim_error_free (err);
    }
  free (body);
}

static void
on_bridge_notify (void *data, const uint8_t *body, size_t len)
{
  struct uvm *u = data;
  shim_error *err = NULL;
  struct bridge_hello hello = { 0 };
  int r = bridge_hello_decode (BRIDGE_TYPE_NOTIFY, body, len, &hello, &err);
  if (r < 0)
    {
      /* Counted with the bridge's other ignored frames would hide what the
         guest said; a bad notification is rare from a working agent.  */
      log_debug ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
      return;
    }
  /* An attempt being killed for a relaunch does not start the sandbox.  */
  if (r == 1 && !u->guest.present && u->state == UVM_BOOTING)
    on_hello (u, &hello);
  else if (r == 0 && uvm_state_started (u->state) && u->events->on_notify)
    u->events->on_notify (u->data, (const char *) body, len);
  bridge_hello_release (&hello);
}

static void
on_bridge_stream (void *data, uint32_t process, uint8_t stream,
                  const uint8_t *bytes, size_t len)
{
  struct uvm *u = data;
  if (uvm_state_started (u->state))
    u->events->on_stream (u->data, process, stream, bytes, len);
}

static void
on_bridge_credit (void *data, uint32_t process, uint32_t n)
{
  struct uvm *u = data;
  if (uvm_state_started (u->state))
    u->events->on_credit (u->data, process, BRIDGE_STDIN, n);
}

/* A guest that breaks the protocol loses its VM: the sandbox fails with
   the reason, and the host keeps its memory.  */
static void
on_bridge_closed (void *data, const char *violation)
{
  struct uvm *u = data;
  u->guest.bridge = NULL;
  if (violation == NULL)
    {
      log_entry (LOG_LEVEL_INFO, "guest agent connection closed",
                 (struct log_field[]){ { "uvm-id", u->id } }, 1);
      return;
    }
  log_entry (
      LOG_LEVEL_ERROR, "stopping the VM",
      (struct log_field[]){ { "uvm-id", u->id }, { "reason", violation } }, 2);
  if (!uvm_state_start_reported (u->state))
    uvm_fail_start (u, GRPC_INTERNAL, "%s", violation);
  else if (u->launch.vmm != NULL && !u->launch.vmm_exited)
    vmm_process_kill (u->launch.vmm, SIGKILL, NULL);
}

static const struct bridge_conn_events bridge_events = {
  on_bridge_read,   on_bridge_notify, on_bridge_stream,
  on_bridge_credit, on_bridge_closed,
};

struct bridge_conn *
uvm_guest_adopt_bridge (struct uvm *u, const struct bridge_handover *h,
                        shim_error **err)
{
  int fd = u->guest.held_fd;
  u->guest.held_fd = -1;
  return fd < 0 ? NULL
                : bridge_conn_adopt (u->loop, fd, u->id, &bridge_events, u, h,
                                     err);
}

struct bridge_conn *
uvm_connected_bridge (struct uvm *u)
{
  return u->guest.present ? u->guest.bridge : NULL;
}

int
uvm_request (struct uvm *u, const char *body, uint32_t timeout_ms,
             uvm_reply_fn reply, void *data, shim_error **err)
{
  struct bridge_conn *c = uvm_connected_bridge (u);
  if (c == NULL)
    return shim_error_set (err, GRPC_UNAVAILABLE,
                           "the guest agent is not connected");
  return bridge_conn_request (c, body, timeout_ms, reply, data, err);
}

void
uvm_open_streams (struct uvm *u, uint32_t process)
{
  if (u->guest.bridge != NULL)
    bridge_conn_open_streams (u->guest.bridge, process);
}

void
uvm_close_streams (struct uvm *u, uint32_t process)
{
  if (u->guest.bridge != NULL)
    bridge_conn_close_streams (u->guest.bridge, process);
}

int
uvm_send_stream (struct uvm *u, uint32_t process, uint8_t stream,
                 const void *bytes, size_t len)
{
  struct bridge_conn *c = uvm_connected_bridge (u);
  if (c == NULL || stream != BRIDGE_STDIN)
    return -1;
  return bridge_conn_send_stdin (c, process, bytes, len);
}

void
uvm_send_credit (struct uvm *u, uint32_t process, uint8_t stream, uint32_t n)
{
  struct bridge_conn *c = uvm_connected_bridge (u);
  if (c != NULL)
    bridge_conn_credit (c, process, stream, n);
}

static void
on_gcs_conn (void *data, int fd)
{
  struct uvm *u = data;
  shim_error *err = NULL;
  u->guest.gcs_listener = NULL;
  if (u->incoming)
    {
      /* Unread until the bridge is adopted from the source.  */
      if (u->guest.held_fd >= 0)
        close (u->guest.held_fd);
      u->guest.held_fd = fd;
      return;
    }
  u->guest.bridge
      = bridge_conn_new (u->loop, fd, u->id, &bridge_events, u, &err);
  if (u->guest.bridge == NULL)
    {
      log_warn ("uvm %s: %s", u->id, err->msg);
      shim_error_free (err);
    }
}

static int
listen_port (struct uvm *u, uint32_t port, vsock_accept_fn fn,
             struct vsock_listener **out, shim_error **err)
{
  struct vsock_listener_config lc = {
    .transport = u->backend->transport,
    .uds = u->vsock_uds,
    .port = port,
    .single = true,
  };
  if (vsock_listener_open (u->loop, &lc, fn, u, out, err) < 0)
    return shim_error_wrap (err, "listen on vsock port %u", port);
  /* The VMM connects as its own uid.  */
  cleanup_free char *path = xasprintf ("%s_%u", u->vsock_uds, port);
  if (lc.transport == VSOCK_TRANSPORT_HYBRID
      && vmm_user_give (&u->launch.user, path, err) < 0)
    return -1;
  return 0;
}

/* Listeners first: the guest connects as soon as it boots.  */
int
uvm_bind_listeners (struct uvm *u, shim_error **err)
{
  u->guest.nports = 0;
  if (listen_port (u, LINUX_ENTROPY_VSOCK_PORT, on_entropy_conn,
                   &u->guest.entropy_listener, err)
      < 0)
    return -1;
  u->guest.ports[u->guest.nports++] = LINUX_ENTROPY_VSOCK_PORT;
  if (u->live_migration && !u->log_relay)
    {
      /* Host-local state that cannot follow the VM: bind nothing (with
         the relay, each side binds its own and the guest redials).  */
      if (u->launch.boot_attempt == 0)
        log_entry (LOG_LEVEL_INFO,
                   "skipping GCS log listener: sandbox is live-migratable",
                   (struct log_field[]){ { "uvm-id", u->id } }, 1);
      u->guest.log_finished = true;
    }
  else
    {
      if (listen_port (u, LINUX_LOG_VSOCK_PORT, on_log_conn,
                       &u->guest.log_listener, err)
          < 0)
        return -1;
      free (u->guest.log_listener_address);
      vsock_hybrid_path (u->vsock_uds, LINUX_LOG_VSOCK_PORT,
                         &u->guest.log_listener_address, NULL);
      u->guest.ports[u->guest.nports++] = LINUX_LOG_VSOCK_PORT;
    }
  if (listen_port (u, LINUX_GCS_VSOCK_PORT, on_gcs_conn,
                   &u->guest.gcs_listener, err)
      < 0)
    return -1;
  u->guest.ports[u->guest.nports++] = LINUX_GCS_VSOCK_PORT;
  return 0;
}

void
uvm_guest_init (struct uvm *u)
{
  u->guest.held_fd = -1;
  uvm_init_timer (u, &u->guest.drain_timer);
  uvm_init_timer (u, &u->guest.log_report_timer);
  read_budget_init (u->loop, &u->guest.log_budget, GUEST_LOG_READ_BUDGET,
                    on_log_budget_refill, u);
  u->open_handles++;
}

/* Nothing will connect any more; a connected log gets time to drain.  */
void
uvm_guest_vmm_exited (struct uvm *u)
{
  vsock_listener_close (u->guest.entropy_listener);
  u->guest.entropy_listener = NULL;
  close_entropy (u);
  if (u->guest.log_conn == NULL)
    finish_log (u);
  else
    uv_timer_start (&u->guest.drain_timer, on_drain_timeout, LOG_DRAIN_MS, 0);
}

void
uvm_guest_disconnect (struct uvm *u, bool destroyed)
{
  close_entropy (u);
  vsock_listener_close (u->guest.entropy_listener);
  vsock_listener_close (u->guest.log_listener);
  vsock_listener_close (u->guest.gcs_listener);
  u->guest.entropy_listener = u->guest.log_listener = u->guest.gcs_listener
      = NULL;
  close_conn (&u->guest.log_conn);
  bridge_conn_close (u->guest.bridge, "the VM is gone", destroyed);
  u->guest.bridge = NULL;
}

void
uvm_guest_close (struct uvm *u)
{
  if (u->guest.held_fd >= 0)
    close (u->guest.held_fd);
  u->guest.held_fd = -1;
  uv_close ((uv_handle_t *) &u->guest.drain_timer, uvm_on_handle_closed);
  uv_close ((uv_handle_t *) &u->guest.log_report_timer, uvm_on_handle_closed);
  read_budget_close (&u->guest.log_budget, uvm_on_handle_closed);
}
