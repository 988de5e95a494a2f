/* See port_forward.h.  */
#include "port_forward.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/list.h"
#include "proto/base/log.h"
#include "proto/base/xalloc.h"
#include "uvm/bridge/bridge.h"
#include "uvm/bridge/bridge_protocol.h"
#include "uvm/podnet/pod_port_steer.h"
#include "uvm/uvm.h"

/* How long the guest has to answer a connect.  */
#define CONNECT_TIMEOUT_MS 10000

struct port_forward
{
  uv_loop_t *loop;
  struct uvm *uvm; /* NULL once stopped */
  char *sandbox_id;
  uint32_t *next_key;
  uv_tcp_t listener;
  int link_fd;
  struct list conns;
  size_t nconns;
  /* Handles not yet closed (the listener and the connections').  */
  size_t open_handles;
  /* Reads from containerd land here, then go to the bridge as a copy.  */
  char buf[BRIDGE_DATA_MAX];
};

struct conn
{
  uv_tcp_t tcp; /* containerd's connection; the record goes with it */
  uv_shutdown_t shutdown;
  struct list link;
  struct port_forward *pf;
  uint32_t key;
  uint16_t port;
  bool connected;     /* the guest connected to the port (until then its
                        answer is awaited) */
  bool reading;       /* reading containerd */
  bool stdin_ended;   /* its end sent to the guest */
  bool client_gone;   /* containerd's side failed: output is dropped */
  bool shutting_down; /* the guest's end, passed on */
  bool guest_done;    /* the guest reported the connection over */
  bool closing;
  uint32_t stdin_unacked;
  size_t writes_pending;
};

struct conn_write
{
  uv_write_t req;
  struct conn *c;
  size_t len;
  char bytes[];
};

static void
release (struct port_forward *pf)
{
  if (--pf->open_handles > 0)
    return;
  free (pf->sandbox_id);
  free (pf);
}

/* A connection closed while its connect was unanswered is closed only by
   port_forward_stop, just before the UVM goes: the answer never comes.  */
static void
on_conn_closed (uv_handle_t *h)
{
  struct conn *c = (struct conn *) h;
  struct port_forward *pf = c->pf;
  free (c);
  release (pf);
}

/* reset: containerd sees a refused port as a reset, not an end.  */
static void
conn_close (struct conn *c, bool reset)
{
  if (c->closing)
    return;
  c->closing = true;
  struct port_forward *pf = c->pf;
  list_remove (&c->link);
  pf->nconns--;
  if (pf->uvm != NULL && c->key != 0)
    uvm_close_streams (pf->uvm, c->key);
  if (!reset || uv_tcp_close_reset (&c->tcp, on_conn_closed) != 0)
    uv_close ((uv_handle_t *) &c->tcp, on_conn_closed);
}

/* Once the guest is done and everything it sent is written; never before
   the connect's answer (a guest may report the end first).  */
static void
maybe_close (struct conn *c)
{
  if (c->guest_done && c->connected && c->writes_pending == 0
      && !c->shutting_down)
    conn_close (c, false);
}

static struct conn *
find (struct port_forward *pf, uint32_t key)
{
  struct list *pos, *tmp;
  if (pf == NULL)
    return NULL;
  list_for_each_safe (pos, tmp, &pf->conns)
  {
    struct conn *c = list_entry (pos, struct conn, link);
    if (c->key == key)
      return c;
  }
  return NULL;
}

/* ---- containerd to the guest ------------------------------------------ */

static void
on_alloc (uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void) suggested;
  struct conn *c = (struct conn *) h;
  *buf = uv_buf_init (c->pf->buf, sizeof c->pf->buf);
}

static void
end_stdin (struct conn *c)
{
  if (c->reading)
    uv_read_stop ((uv_stream_t *) &c->tcp);
  c->reading = false;
  if (c->stdin_ended)
    return;
  c->stdin_ended = true;
  if (c->pf->uvm != NULL)
    uvm_send_stream (c->pf->uvm, c->key, BRIDGE_STDIN, NULL, 0);
}

static void
on_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct conn *c = (struct conn *) s;
  if (n == 0)
    return;
  if (n < 0)
    {
      end_stdin (c);
      return;
    }
  if (uvm_send_stream (c->pf->uvm, c->key, BRIDGE_STDIN, buf->base, (size_t) n)
      < 0)
    {
      conn_close (c, true);
      return;
    }
  c->stdin_unacked += (uint32_t) n;
  /* Room for one more read's worth, or wait for the guest's credit.  */
  if (c->stdin_unacked + BRIDGE_DATA_MAX > BRIDGE_WINDOW)
    {
      uv_read_stop (s);
      c->reading = false;
    }
}

static void
read_more (struct conn *c)
{
  if (c->connected && !c->reading && !c->stdin_ended && !c->closing
      && c->stdin_unacked + BRIDGE_DATA_MAX <= BRIDGE_WINDOW
      && uv_read_start ((uv_stream_t *) &c->tcp, on_alloc, on_read) == 0)
    c->reading = true;
}

bool
port_forward_on_credit (struct port_forward *pf, uint32_t key, uint32_t n)
{
  struct conn *c = find (pf, key);
  if (c == NULL)
    return false;
  c->stdin_unacked = n > c->stdin_unacked ? 0 : c->stdin_unacked - n;
  read_more (c);
  return true;
}

/* ---- the guest to containerd ------------------------------------------ */

/* containerd's side failed: the guest's output is dropped from now on,
   and its end follows ours.  */
static void
client_failed (struct conn *c)
{
  c->client_gone = true;
  end_stdin (c);
}

/* Written or dropped, the guest gets its credit back (cancelled writes
   belong to a connection being closed).  */
static void
on_written (uv_write_t *req, int status)
{
  struct conn_write *w = (struct conn_write *) req;
  struct conn *c = w->c;
  c->writes_pending--;
  if (status < 0 && status != UV_ECANCELED && !c->client_gone)
    client_failed (c);
  if (status != UV_ECANCELED && c->pf->uvm != NULL && !c->closing)
    uvm_send_credit (c->pf->uvm, c->key, BRIDGE_STDOUT, (uint32_t) w->len);
  free (w);
  if (!c->closing)
    maybe_close (c);
}

static void
on_shutdown (uv_shutdown_t *req, int status)
{
  (void) status;
  struct conn *c = req->data;
  c->shutting_down = false;
  if (!c->closing)
    maybe_close (c);
}

bool
port_forward_on_stream (struct port_forward *pf, uint32_t key, uint8_t stream,
                        const uint8_t *bytes, size_t len)
{
  struct conn *c = find (pf, key);
  if (c == NULL)
    return false;
  if (stream != BRIDGE_STDOUT || c->client_gone)
    {
      if (len > 0)
        uvm_send_credit (pf->uvm, key, stream, (uint32_t) len);
      return true;
    }
  if (len == 0)
    {
      c->shutdown.data = c;
      if (uv_shutdown (&c->shutdown, (uv_stream_t *) &c->tcp, on_shutdown)
          == 0)
        c->shutting_down = true;
      return true;
    }
  struct conn_write *w = xmalloc (sizeof *w + len);
  w->c = c;
  w->len = len;
  memcpy (w->bytes, bytes, len);
  uv_buf_t b = uv_buf_init (w->bytes, (unsigned) len);
  if (uv_write (&w->req, (uv_stream_t *) &c->tcp, &b, 1, on_written) < 0)
    {
      free (w);
      client_failed (c);
      uvm_send_credit (pf->uvm, key, stream, (uint32_t) len);
      return true;
    }
  c->writes_pending++;
  return true;
}

bool
port_forward_on_exit (struct port_forward *pf, uint32_t key)
{
  struct conn *c = find (pf, key);
  if (c == NULL)
    return false;
  c->guest_done = true;
  c->stdin_ended = true;
  if (c->reading)
    uv_read_stop ((uv_stream_t *) &c->tcp);
  c->reading = false;
  maybe_close (c);
  return true;
}

/* ---- connections ------------------------------------------------------ */

static void
on_connected (void *data, const char *body, size_t len, const shim_error *err)
{
  struct conn *c = data;
  if (c->closing)
    return;
  /* The guest's own refusal is in the body.  */
  struct bridge_response resp;
  shim_error *derr = NULL;
  if (err == NULL && bridge_response_decode (body, len, &resp, &derr) == 0)
    bridge_response_release (&resp);
  if (err == NULL)
    err = derr;
  if (err != NULL)
    {
      char port[8];
      snprintf (port, sizeof port, "%u", c->port);
      log_entry (LOG_LEVEL_INFO, "port forward: refused in the guest",
                 (struct log_field[]){ { "sandbox", c->pf->sandbox_id },
                                       { "port", port },
                                       { "error", err->msg } },
                 3);
      shim_error_free (derr);
      conn_close (c, true);
      return;
    }
  c->connected = true;
  read_more (c);
  maybe_close (c);
}

static void
on_connection (uv_stream_t *server, int status)
{
  struct port_forward *pf = server->data;
  if (status < 0 || pf->uvm == NULL)
    return;
  struct conn *c = xzalloc (sizeof *c);
  c->pf = pf;
  uv_tcp_init (pf->loop, &c->tcp);
  pf->open_handles++;
  list_add_tail (&pf->conns, &c->link);
  pf->nconns++;
  if (uv_accept (server, (uv_stream_t *) &c->tcp) < 0)
    {
      conn_close (c, false);
      return;
    }
  /* The steering keeps the address containerd dialled as ours.  */
  struct sockaddr_in local;
  int namelen = sizeof local;
  if (uv_tcp_getsockname (&c->tcp, (struct sockaddr *) &local, &namelen) < 0
      || local.sin_family != AF_INET)
    {
      conn_close (c, true);
      return;
    }
  c->port = ntohs (local.sin_port);
  if (pf->nconns > PORT_FORWARD_CONNECTIONS_MAX)
    {
      log_entry (LOG_LEVEL_WARN,
                 "port forward: too many connections; this one is reset",
                 (struct log_field[]){ { "sandbox", pf->sandbox_id } }, 1);
      conn_close (c, true);
      return;
    }
  c->key = ++*pf->next_key;
  uvm_open_streams (pf->uvm, c->key);
  cleanup_free char *req = bridge_connect_body (c->key, c->port);
  shim_error *err = NULL;
  if (uvm_request (pf->uvm, req, CONNECT_TIMEOUT_MS, on_connected, c, &err)
      < 0)
    {
      log_warn ("port forward: %s", err->msg);
      shim_error_free (err);
      conn_close (c, true);
    }
}

static void
on_listener_closed (uv_handle_t *h)
{
  release (h->data);
}

int
port_forward_start (const struct port_forward_config *cfg,
                    struct port_forward **out, shim_error **err)
{
  struct pod_port_steer steer;
  if (pod_port_steer_open (cfg->netns_path, &steer, err) < 0)
    return -1;
  struct port_forward *pf = xzalloc (sizeof *pf);
  pf->loop = cfg->loop;
  pf->uvm = cfg->uvm;
  pf->sandbox_id = xstrdup (cfg->sandbox_id);
  pf->next_key = cfg->next_key;
  pf->link_fd = steer.link_fd;
  list_init (&pf->conns);
  uv_tcp_init (cfg->loop, &pf->listener);
  pf->listener.data = pf;
  pf->open_handles = 1;
  int r = uv_tcp_open (&pf->listener, steer.listen_fd);
  if (r == 0)
    r = uv_listen ((uv_stream_t *) &pf->listener, SOMAXCONN, on_connection);
  if (r < 0)
    {
      if (uv_fileno ((uv_handle_t *) &pf->listener, &(uv_os_fd_t){ 0 }) != 0)
        close (steer.listen_fd);
      shim_error_set (err, GRPC_INTERNAL, "port forward: listen: %s",
                      uv_strerror (r));
      pf->uvm = NULL;
      close (pf->link_fd);
      uv_close ((uv_handle_t *) &pf->listener, on_listener_closed);
      return -1;
    }
  *out = pf;
  return 0;
}

void
port_forward_stop (struct port_forward *pf)
{
  if (pf == NULL)
    return;
  pf->uvm = NULL;
  close (pf->link_fd);
  pf->link_fd = -1;
  while (!list_empty (&pf->conns))
    conn_close (list_entry (pf->conns.next, struct conn, link), true);
  uv_close ((uv_handle_t *) &pf->listener, on_listener_closed);
}
