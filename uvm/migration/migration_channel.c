/* See migration_channel.h.  */
#include "migration_channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/go_parse.h"
#include "proto/base/log.h"
#include "proto/base/strbuf.h"
#include "proto/base/xalloc.h"

/* What a connection sends first: the token and a newline.  */
#define GREETING_LEN (MIGRATION_TOKEN_LEN + 1)
/* How long a connection may take to present it.  */
#define GREETING_MS 10000

int
migration_token_new (char out[MIGRATION_TOKEN_LEN + 1], shim_error **err)
{
  unsigned char raw[MIGRATION_TOKEN_LEN / 2];
  size_t have = 0;
  while (have < sizeof raw)
    {
      ssize_t n = getrandom (raw + have, sizeof raw - have, 0);
      if (n < 0 && errno != EINTR)
        return shim_error_errno (err, GRPC_INTERNAL, errno,
                                 "getrandom for the migration token");
      if (n > 0)
        have += (size_t) n;
    }
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (out + 2 * i, 3, "%02x", raw[i]);
  return 0;
}

/* ---- addresses ---------------------------------------------------------- */

static int
parse_tcp (const char *uri, const char *hostport, bool listen,
           struct migration_address *out, shim_error **err)
{
  const char *colon;
  size_t hostlen;
  bool v6 = hostport[0] == '[';
  if (v6)
    {
      const char *close = strchr (hostport, ']');
      if (close == NULL || close[1] != ':')
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "migration address \"%s\": expected "
                               "[IPV6]:PORT",
                               uri);
      hostport++;
      hostlen = (size_t) (close - hostport);
      colon = close + 1;
    }
  else
    {
      colon = strrchr (hostport, ':');
      if (colon == NULL)
        return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                               "migration address \"%s\": expected "
                               "HOST:PORT",
                               uri);
      hostlen = (size_t) (colon - hostport);
    }
  uint32_t port;
  if (hostlen == 0 || hostlen >= sizeof out->host
      || go_parse_u32_fields (colon + 1, ',', &port, 1) < 0 || port > 65535
      || (port == 0 && !listen))
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "migration address \"%s\": expected a numeric "
                           "host and a port in [%d, 65535]",
                           uri, listen ? 0 : 1);
  memcpy (out->host, hostport, hostlen);
  out->host[hostlen] = '\0';
  out->tcp = true;
  struct sockaddr_in *in4 = (struct sockaddr_in *) &out->sa;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &out->sa;
  if (!v6 && inet_pton (AF_INET, out->host, &in4->sin_addr) == 1)
    {
      in4->sin_family = AF_INET;
      in4->sin_port = htons ((uint16_t) port);
      out->len = sizeof *in4;
    }
  else if (v6 && inet_pton (AF_INET6, out->host, &in6->sin6_addr) == 1)
    {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons ((uint16_t) port);
      out->len = sizeof *in6;
    }
  else
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "migration address \"%s\": %s is not a numeric "
                           "IP address (names are not looked up)",
                           uri, out->host);
  bool wildcard = v6 ? IN6_IS_ADDR_UNSPECIFIED (&in6->sin6_addr)
                     : in4->sin_addr.s_addr == htonl (INADDR_ANY);
  if (wildcard)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "migration address \"%s\": a wildcard address "
                           "cannot be dialled: name the address the source "
                           "reaches",
                           uri);
  return 0;
}

int
migration_address_parse (const char *uri, bool listen,
                         struct migration_address *out, shim_error **err)
{
  *out = (struct migration_address){ 0 };
  if (strncmp (uri, "tcp:", 4) == 0)
    return parse_tcp (uri, uri + 4, listen, out, err);
  struct sockaddr_un *un = (struct sockaddr_un *) &out->sa;
  if (strncmp (uri, "unix:", 5) != 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "migration URI \"%s\": expected unix:PATH or "
                           "tcp:HOST:PORT",
                           uri);
  if (uri[5] != '/' || strlen (uri + 5) >= sizeof un->sun_path)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "migration URI \"%s\": not an absolute socket "
                           "path that fits in sun_path",
                           uri);
  un->sun_family = AF_UNIX;
  strcpy (un->sun_path, uri + 5);
  out->len = sizeof *un;
  return 0;
}

int
migration_tls_dir_check (const char *dir, bool server, shim_error **err)
{
  const char *names[]
      = { "ca-cert.pem", server ? "server-cert.pem" : "client-cert.pem",
          server ? "server-key.pem" : "client-key.pem" };
  strbuf missing = STRBUF_INIT;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    {
      cleanup_free char *path = xasprintf ("%s/%s", dir, names[i]);
      struct stat st;
      if (stat (path, &st) < 0 || !S_ISREG (st.st_mode))
        strbuf_list_printf (&missing, "%s", path);
    }
  if (missing.len == 0)
    return 0;
  shim_error_set (err, GRPC_FAILED_PRECONDITION,
                  "migration_tls_dir: the %s's TLS files are missing: %s",
                  server ? "destination" : "source", missing.data);
  strbuf_release (&missing);
  return -1;
}

static int
set_blocking (int fd)
{
  int flags = fcntl (fd, F_GETFL);
  return flags < 0 ? -1 : fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
}

/* ---- listening ---------------------------------------------------------- */

/* A connection presenting (or not) the token.  */
struct greeting
{
  uv_poll_t poll;
  uv_timer_t timer;
  int fd;
  char got[GREETING_LEN];
  size_t have;
  int open_handles;
  struct migration_listener *l;
};

struct migration_listener
{
  uv_poll_t poll;
  int fd;
  char *unix_path;
  char token[MIGRATION_TOKEN_LEN + 1];
  migration_accept_fn fn;
  void *data;
  /* One connection presents its token at a time.  */
  struct greeting *greeting;
  bool closed;
};

static void
on_greeting_handle_closed (uv_handle_t *h)
{
  struct greeting *g = h->data;
  if (--g->open_handles == 0)
    free (g);
}

/* Ends the greeting; its fd is closed unless keep.  */
static void
greeting_end (struct greeting *g, bool keep)
{
  if (g->l != NULL)
    g->l->greeting = NULL;
  if (!keep)
    close (g->fd);
  uv_close ((uv_handle_t *) &g->poll, on_greeting_handle_closed);
  uv_close ((uv_handle_t *) &g->timer, on_greeting_handle_closed);
}

static void
on_listener_closed (uv_handle_t *h)
{
  struct migration_listener *l = h->data;
  free (l->unix_path);
  free (l);
}

void
migration_listener_close (struct migration_listener *l)
{
  if (l == NULL || l->closed)
    return;
  l->closed = true;
  if (l->greeting != NULL)
    greeting_end (l->greeting, false);
  if (l->unix_path != NULL)
    unlink (l->unix_path);
  close (l->fd);
  uv_close ((uv_handle_t *) &l->poll, on_listener_closed);
}

static void
refuse (struct greeting *g, const char *why)
{
  log_entry (LOG_LEVEL_WARN,
             "live migration: a connection to the listener was closed",
             (struct log_field[]){ { "reason", why } }, 1);
  greeting_end (g, false);
}

/* Equal in constant time: the token is a secret.  */
static bool
token_matches (const char *got, const char *token)
{
  unsigned char diff = (unsigned char) (got[MIGRATION_TOKEN_LEN] ^ '\n');
  for (size_t i = 0; i < MIGRATION_TOKEN_LEN; i++)
    diff |= (unsigned char) (got[i] ^ token[i]);
  return diff == 0;
}

static void
on_greeting_readable (uv_poll_t *p, int status, int events)
{
  struct greeting *g = p->data;
  (void) events;
  if (g->l == NULL)
    {
      greeting_end (g, false);
      return;
    }
  /* Exactly the greeting: what follows is QEMU's.  */
  ssize_t n = status < 0
                  ? -1
                  : read (g->fd, g->got + g->have, sizeof g->got - g->have);
  if (n < 0 && (errno == EAGAIN || errno == EINTR) && status >= 0)
    return;
  if (n <= 0)
    {
      refuse (g, "closed before presenting the migration token");
      return;
    }
  g->have += (size_t) n;
  if (g->have < sizeof g->got)
    return;
  if (!token_matches (g->got, g->l->token))
    {
      refuse (g, "a wrong migration token");
      return;
    }
  struct migration_listener *l = g->l;
  int fd = g->fd;
  greeting_end (g, true);
  migration_accept_fn fn = l->fn;
  void *data = l->data;
  migration_listener_close (l);
  if (set_blocking (fd) < 0)
    {
      close (fd);
      return;
    }
  fn (data, fd);
}

static void
on_greeting_timeout (uv_timer_t *t)
{
  refuse (t->data, "no migration token within 10 s");
}

static void
on_listener_readable (uv_poll_t *p, int status, int events)
{
  struct migration_listener *l = p->data;
  (void) events;
  if (status < 0 || l->closed)
    return;
  int fd = accept4 (l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  if (l->greeting != NULL)
    {
      close (fd);
      log_entry (LOG_LEVEL_WARN,
                 "live migration: a connection to the listener was closed",
                 (struct log_field[]){
                     { "reason", "another one is presenting its token" } },
                 1);
      return;
    }
  struct greeting *g = xzalloc (sizeof *g);
  g->fd = fd;
  g->l = l;
  g->open_handles = 2;
  uv_poll_init (p->loop, &g->poll, fd);
  g->poll.data = g;
  uv_timer_init (p->loop, &g->timer);
  g->timer.data = g;
  l->greeting = g;
  uv_poll_start (&g->poll, UV_READABLE | UV_DISCONNECT, on_greeting_readable);
  uv_timer_start (&g->timer, on_greeting_timeout, GREETING_MS, 0);
}

/* The URI the source dials for what fd is bound to.  */
static char *
bound_uri (int fd, const struct migration_address *a)
{
  if (!a->tcp)
    return xasprintf ("unix:%s",
                      ((const struct sockaddr_un *) &a->sa)->sun_path);
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getsockname (fd, (struct sockaddr *) &sa, &len) < 0)
    return NULL;
  if (sa.ss_family == AF_INET6)
    return xasprintf ("tcp:[%s]:%u", a->host,
                      ntohs (((struct sockaddr_in6 *) &sa)->sin6_port));
  return xasprintf ("tcp:%s:%u", a->host,
                    ntohs (((struct sockaddr_in *) &sa)->sin_port));
}

int
migration_listener_open (uv_loop_t *loop, const char *uri, const char *token,
                         migration_accept_fn fn, void *data,
                         struct migration_listener **out, char **bound,
                         shim_error **err)
{
  struct migration_address a;
  if (migration_address_parse (uri, true, &a, err) < 0)
    return -1;
  int fd
      = socket (a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (a.tcp && fd >= 0)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  else if (fd >= 0)
    unlink (((struct sockaddr_un *) &a.sa)->sun_path);
  if (fd < 0 || bind (fd, (struct sockaddr *) &a.sa, a.len) < 0
      || listen (fd, 4) < 0 || (*bound = bound_uri (fd, &a)) == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return shim_error_errno (err, GRPC_UNAVAILABLE, e,
                               "listen for the migration at %s", uri);
    }
  struct migration_listener *l = xzalloc (sizeof *l);
  l->fd = fd;
  l->fn = fn;
  l->data = data;
  snprintf (l->token, sizeof l->token, "%s", token);
  if (!a.tcp)
    l->unix_path = xstrdup (((struct sockaddr_un *) &a.sa)->sun_path);
  uv_poll_init (loop, &l->poll, fd);
  l->poll.data = l;
  uv_poll_start (&l->poll, UV_READABLE, on_listener_readable);
  *out = l;
  return 0;
}

/* ---- dialling ----------------------------------------------------------- */

struct migration_dial
{
  uv_poll_t poll;
  int fd;
  char greeting[GREETING_LEN];
  size_t sent;
  bool connected;
  char *uri;
  migration_dialled_fn fn;
  void *data;
};

static void
on_dial_closed (uv_handle_t *h)
{
  struct migration_dial *d = h->data;
  free (d->uri);
  free (d);
}

void
migration_dial_cancel (struct migration_dial *d)
{
  if (d == NULL)
    return;
  if (d->fd >= 0)
    close (d->fd);
  uv_close ((uv_handle_t *) &d->poll, on_dial_closed);
}

static void
dial_end (struct migration_dial *d, int e)
{
  int fd = d->fd;
  migration_dialled_fn fn = d->fn;
  void *data = d->data;
  shim_error *err = NULL;
  if (e != 0)
    shim_error_errno (&err, GRPC_UNAVAILABLE, e,
                      "connect to the destination at %s", d->uri);
  else if (set_blocking (fd) < 0)
    shim_error_errno (&err, GRPC_INTERNAL, errno, "fcntl");
  if (err != NULL)
    close (fd);
  /* The fd is the callee's (or closed) now.  */
  d->fd = -1;
  migration_dial_cancel (d);
  fn (data, err ? -1 : fd, err);
  shim_error_free (err);
}

static void
on_dial_writable (uv_poll_t *p, int status, int events)
{
  struct migration_dial *d = p->data;
  (void) events;
  int e = 0;
  socklen_t len = sizeof e;
  if (status < 0)
    e = -status;
  else if (!d->connected
           && getsockopt (d->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
    e = errno;
  if (e == 0)
    {
      d->connected = true;
      ssize_t n
          = write (d->fd, d->greeting + d->sent, sizeof d->greeting - d->sent);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        e = errno;
      else if (n > 0)
        d->sent += (size_t) n;
    }
  if (e != 0 || d->sent == sizeof d->greeting)
    {
      uv_poll_stop (p);
      dial_end (d, e);
    }
}

int
migration_dial_start (uv_loop_t *loop, const char *uri, const char *token,
                      migration_dialled_fn fn, void *data,
                      struct migration_dial **out, shim_error **err)
{
  struct migration_address a;
  if (migration_address_parse (uri, false, &a, err) < 0)
    return -1;
  if (strlen (token) != MIGRATION_TOKEN_LEN)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "the migration token has %zu characters, not %d "
                           "(the destination's Prepare answers it)",
                           strlen (token), MIGRATION_TOKEN_LEN);
  int fd
      = socket (a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0
      || (connect (fd, (struct sockaddr *) &a.sa, a.len) < 0
          && errno != EINPROGRESS && errno != EAGAIN))
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return shim_error_errno (err, GRPC_UNAVAILABLE, e,
                               "connect to the destination at %s", uri);
    }
  struct migration_dial *d = xzalloc (sizeof *d);
  d->fd = fd;
  d->uri = xstrdup (uri);
  d->fn = fn;
  d->data = data;
  memcpy (d->greeting, token, MIGRATION_TOKEN_LEN);
  d->greeting[MIGRATION_TOKEN_LEN] = '\n';
  uv_poll_init (loop, &d->poll, fd);
  d->poll.data = d;
  uv_poll_start (&d->poll, UV_WRITABLE, on_dial_writable);
  *out = d;
  return 0;
}
