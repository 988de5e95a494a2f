/* The connection a VM's state travels on: addresses as the config and
   Prepare write them, and a real listener and dialler on this loop: a
   connection with a wrong token, or a second one meanwhile, is closed
   while listening goes on; the right token hands the connection over
   with what follows the greeting unread (QEMU's).  */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "proto/base/error.h"
#include "uvm/migration/migration_channel.h"
#include "suites.h"

static void
parse_ok (const char *uri, bool listen, bool tcp, const char *host)
{
  struct migration_address a;
  shim_error *err = NULL;
  ck_assert_msg (migration_address_parse (uri, listen, &a, &err) == 0,
                 "%s: %s", uri, err ? err->msg : "");
  ck_assert (a.tcp == tcp);
  ck_assert_str_eq (a.host, host);
  ck_assert_uint_gt (a.len, 0);
}

static void
parse_bad (const char *uri, bool listen, const char *says)
{
  struct migration_address a;
  shim_error *err = NULL;
  ck_assert_msg (migration_address_parse (uri, listen, &a, &err) < 0, "%s",
                 uri);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  ck_assert_msg (strstr (err->msg, says) != NULL, "%s: %s", uri, err->msg);
  shim_error_free (err);
}

START_TEST (addresses)
{
  parse_ok ("tcp:127.0.0.1:4444", false, true, "127.0.0.1");
  parse_ok ("tcp:10.1.2.3:0", true, true, "10.1.2.3");
  parse_ok ("tcp:[::1]:4444", false, true, "::1");
  parse_ok ("unix:/run/x/migration", false, false, "");
  parse_bad ("tcp:10.1.2.3:0", false, "a port in [1, 65535]");
  parse_bad ("tcp:10.1.2.3:65536", true, "a port in [0, 65535]");
  parse_bad ("tcp:10.1.2.3", true, "expected HOST:PORT");
  parse_bad ("tcp::80", true, "numeric host");
  parse_bad ("tcp:host.example:80", false, "not a numeric IP address");
  parse_bad ("tcp:[::1:80", false, "expected [IPV6]:PORT");
  parse_bad ("tcp:[10.0.0.1]:80", false, "not a numeric IP address");
  parse_bad ("tcp:0.0.0.0:80", true, "a wildcard address");
  parse_bad ("tcp:[::]:80", true, "a wildcard address");
  parse_bad ("unix:relative", false, "absolute socket path");
  parse_bad ("fd:3", false, "expected unix:PATH or tcp:HOST:PORT");
  char token[MIGRATION_TOKEN_LEN + 1], other[MIGRATION_TOKEN_LEN + 1];
  shim_error *err = NULL;
  ck_assert_int_eq (migration_token_new (token, &err), 0);
  ck_assert_int_eq (migration_token_new (other, &err), 0);
  ck_assert_uint_eq (strlen (token), MIGRATION_TOKEN_LEN);
  ck_assert_uint_eq (strspn (token, "0123456789abcdef"), MIGRATION_TOKEN_LEN);
  ck_assert_str_ne (token, other);
}
END_TEST

struct run
{
  uv_loop_t loop;
  int accepted_fd;
  int dialled;
  int dial_failed;
};

static void
on_accept (void *data, int fd)
{
  ((struct run *) data)->accepted_fd = fd;
}

static void
on_dialled (void *data, int fd, const shim_error *err)
{
  struct run *r = data;
  if (err != NULL)
    {
      r->dial_failed++;
      return;
    }
  r->dialled++;
  /* What QEMU would send next.  */
  ck_assert_int_eq (write (fd, "QEVM", 4), 4);
  close (fd);
}

static void
spin_until (struct run *r, const int *flag, int want)
{
  for (int i = 0; i < 2000 && *flag < want; i++)
    uv_run (&r->loop, UV_RUN_NOWAIT), usleep (1000);
  ck_assert_int_ge (*flag, want);
}

static void
listen_and_dial (const char *where)
{
  struct run r = { .accepted_fd = -1 };
  uv_loop_init (&r.loop);
  char token[MIGRATION_TOKEN_LEN + 1], wrong[MIGRATION_TOKEN_LEN + 1];
  shim_error *err = NULL;
  ck_assert_int_eq (migration_token_new (token, &err), 0);
  ck_assert_int_eq (migration_token_new (wrong, &err), 0);
  struct migration_listener *l = NULL;
  char *bound = NULL;
  ck_assert_msg (migration_listener_open (&r.loop, where, token, on_accept, &r,
                                          &l, &bound, &err)
                     == 0,
                 "%s", err ? err->msg : "");
  if (strncmp (where, "tcp:", 4) == 0)
    ck_assert_msg (strncmp (bound, "tcp:127.0.0.1:", 14) == 0
                       && strcmp (bound, "tcp:127.0.0.1:0") != 0,
                   "%s", bound);
  else
    ck_assert_str_eq (bound, where);

  /* A wrong token: closed; the listener goes on.  */
  struct migration_dial *d = NULL;
  ck_assert_int_eq (
      migration_dial_start (&r.loop, bound, wrong, on_dialled, &r, &d, &err),
      0);
  spin_until (&r, &r.dialled, 1);
  for (int i = 0; i < 50; i++)
    uv_run (&r.loop, UV_RUN_NOWAIT), usleep (1000);
  ck_assert_int_eq (r.accepted_fd, -1);

  /* A short token is refused before dialling.  */
  ck_assert_int_lt (
      migration_dial_start (&r.loop, bound, "abc", on_dialled, &r, &d, &err),
      0);
  ck_assert_msg (strstr (err->msg, "token") != NULL, "%s", err->msg);
  shim_error_free (err);
  err = NULL;

  /* The right one: handed over, QEMU's first bytes still unread.  */
  ck_assert_int_eq (
      migration_dial_start (&r.loop, bound, token, on_dialled, &r, &d, &err),
      0);
  spin_until (&r, &r.dialled, 2);
  for (int i = 0; i < 2000 && r.accepted_fd < 0; i++)
    uv_run (&r.loop, UV_RUN_NOWAIT), usleep (1000);
  ck_assert_int_ge (r.accepted_fd, 0);
  char got[8] = "";
  ck_assert_int_eq (read (r.accepted_fd, got, sizeof got), 4);
  ck_assert (memcmp (got, "QEVM", 4) == 0);
  close (r.accepted_fd);
  /* The listener closed itself: nobody else gets in.  */
  ck_assert_int_eq (uv_run (&r.loop, UV_RUN_NOWAIT), 0);
  free (bound);
  ck_assert_int_eq (uv_loop_close (&r.loop), 0);
}

START_TEST (tcp_token) { listen_and_dial ("tcp:127.0.0.1:0"); }
END_TEST

START_TEST (unix_token)
{
  char dir[] = "/tmp/mig-chan-XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (dir));
  char where[64];
  snprintf (where, sizeof where, "unix:%s/migration", dir);
  listen_and_dial (where);
  /* The socket file went with the listener.  */
  ck_assert_int_eq (access (where + 5, F_OK), -1);
  rmdir (dir);
}
END_TEST

START_TEST (dial_refused)
{
  struct run r = { .accepted_fd = -1 };
  uv_loop_init (&r.loop);
  char token[MIGRATION_TOKEN_LEN + 1];
  shim_error *err = NULL;
  ck_assert_int_eq (migration_token_new (token, &err), 0);
  struct migration_dial *d = NULL;
  /* Port 1 on loopback: nobody listens.  */
  int r0 = migration_dial_start (&r.loop, "tcp:127.0.0.1:1", token, on_dialled,
                                 &r, &d, &err);
  if (r0 < 0)
    {
      ck_assert_msg (strstr (err->msg, "connect to the destination") != NULL,
                     "%s", err->msg);
      shim_error_free (err);
    }
  else
    spin_until (&r, &r.dial_failed, 1);
  ck_assert_int_eq (r.dialled, 0);
  uv_run (&r.loop, UV_RUN_NOWAIT);
  ck_assert_int_eq (uv_loop_close (&r.loop), 0);
}
END_TEST

Suite *
migration_channel_suite (void)
{
  Suite *s = suite_create ("migration_channel");
  TCase *t = tcase_create ("core");
  tcase_add_test (t, addresses);
  tcase_add_test (t, tcp_token);
  tcase_add_test (t, unix_token);
  tcase_add_test (t, dial_refused);
  suite_add_tcase (s, t);
  return s;
}
