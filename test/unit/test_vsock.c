/* vsock ports: the hybrid unix transport end to end, the sun_path bound,
   and AF_VSOCK binding (bind only, never a connect) where the host allows
   it.  Also the shim address and command-line parsing.  */
#include <check.h>

#include "suites.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/shim_address.h"
#include "daemon/shim_cli.h"
#include "uvm/vsock/vsock_port.h"

static int accepted_fd = -1;

static void
on_accept (void *data, int fd)
{
  (void) data;
  accepted_fd = fd;
}

START_TEST (test_hybrid_single_accept)
{
  char dir[] = "/tmp/vsock-test.XXXXXX";
  ck_assert_ptr_nonnull (mkdtemp (dir));
  char uds[256];
  snprintf (uds, sizeof uds, "%s/vsock", dir);
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct vsock_listener *l = NULL;
  struct vsock_listener_config cfg
      = { VSOCK_TRANSPORT_HYBRID, uds, 109, 0, true };
  ck_assert_int_eq (
      vsock_listener_open (&loop, &cfg, on_accept, NULL, &l, NULL), 0);
  char path[300];
  snprintf (path, sizeof path, "%s_109", uds);
  struct stat st;
  ck_assert_int_eq (stat (path, &st), 0);
  ck_assert_int_eq (st.st_mode & 0777, 0600);

  int c = socket (AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strcpy (sa.sun_path, path);
  ck_assert_int_eq (connect (c, (struct sockaddr *) &sa, sizeof sa), 0);
  accepted_fd = -1;
  for (int i = 0; i < 1000 && accepted_fd < 0; i++)
    uv_run (&loop, UV_RUN_NOWAIT);
  ck_assert_int_ge (accepted_fd, 0);
  ck_assert_int_eq (write (c, "hi", 2), 2);
  char buf[2];
  ck_assert_int_eq (read (accepted_fd, buf, 2), 2);
  /* A single-accept listener is gone after its connection.  */
  for (int i = 0; i < 10; i++)
    uv_run (&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq (stat (path, &st), -1);
  close (c);
  close (accepted_fd);
  ck_assert_int_eq (uv_loop_close (&loop), 0);
  rmdir (dir);
}
END_TEST

START_TEST (test_hybrid_path_too_long)
{
  char uds[200];
  memset (uds, 'a', sizeof uds - 1);
  uds[0] = '/';
  uds[sizeof uds - 1] = '\0';
  char *out = NULL;
  shim_error *err = NULL;
  ck_assert_int_eq (vsock_hybrid_path (uds, 1073741824u, &out, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "longer than sun_path allows"));
  shim_error_free (err);
}
END_TEST

START_TEST (test_af_vsock_bind)
{
  if (!vsock_af_vsock_available ())
    {
      printf ("SKIP test_af_vsock_bind: this host cannot create AF_VSOCK "
              "sockets (%s)\n",
              strerror (errno));
      return;
    }
  uv_loop_t loop;
  uv_loop_init (&loop);
  /* A high port nothing uses; bound briefly, never connected to.  */
  uint32_t port = 0x7f000000u + (uint32_t) (getpid () & 0xffff);
  struct vsock_listener_config cfg
      = { VSOCK_TRANSPORT_AF_VSOCK, NULL, port, 3, true };
  struct vsock_listener *a = NULL, *b = NULL;
  shim_error *err = NULL;
  if (vsock_listener_open (&loop, &cfg, on_accept, NULL, &a, &err) < 0)
    {
      printf ("SKIP test_af_vsock_bind: bind refused here: %s\n", err->msg);
      shim_error_free (err);
      uv_loop_close (&loop);
      return;
    }
  /* The port is host-wide: a second sandbox gets a clear refusal.  */
  ck_assert_int_eq (
      vsock_listener_open (&loop, &cfg, on_accept, NULL, &b, &err), -1);
  ck_assert_ptr_nonnull (strstr (err->msg, "already bound on this host"));
  shim_error_free (err);
  vsock_listener_close (a);
  uv_run (&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq (uv_loop_close (&loop), 0);
  printf ("test_af_vsock_bind: bound and closed AF_VSOCK port %u\n", port);
}
END_TEST

START_TEST (test_address_and_flags)
{
  char *a = shim_socket_address ("/run/containerd/containerd.sock", "default",
                                 "demo");
  ck_assert_str_eq (
      a, "unix:///run/containerd/s/"
         "12117510a54ae87cb9f59e68c4b6897783ff70cec968b5b5967a0a0cd503057e");
  free (a);
  /* filepath.Join cleans: doubled slashes and a trailing slash vanish.  */
  a = shim_socket_address ("/run/containerd//containerd.sock/", "default",
                           "demo");
  ck_assert_str_eq (
      a, "unix:///run/containerd/s/"
         "12117510a54ae87cb9f59e68c4b6897783ff70cec968b5b5967a0a0cd503057e");
  free (a);
  /* The socket directory can be moved (absolute paths only); the name is
     the same hash.  */
  setenv (SHIM_SOCKET_DIR_ENV, "/tmp/lcow-sockets", 1);
  a = shim_socket_address ("/run/containerd/containerd.sock", "default",
                           "demo");
  ck_assert_str_eq (
      a, "unix:///tmp/lcow-sockets/"
         "12117510a54ae87cb9f59e68c4b6897783ff70cec968b5b5967a0a0cd503057e");
  free (a);
  /* Another containerd's directory, named (migrate --from/--to).  */
  a = shim_socket_address_in ("/other/s", "/run/containerd/containerd.sock",
                              "default", "demo");
  ck_assert_str_eq (
      a, "unix:///other/s/"
         "12117510a54ae87cb9f59e68c4b6897783ff70cec968b5b5967a0a0cd503057e");
  free (a);
  setenv (SHIM_SOCKET_DIR_ENV, "relative/dir", 1);
  ck_assert_str_eq (shim_socket_dir (), "/run/containerd/s");
  unsetenv (SHIM_SOCKET_DIR_ENV);
  ck_assert_str_eq (shim_socket_dir (), "/run/containerd/s");
  char *c = path_clean ("a/../../b/./c/");
  ck_assert_str_eq (c, "../b/c");
  free (c);

  char *argv[] = { "shim",
                   "-namespace",
                   "demo",
                   "--address=/a.sock",
                   "-publish-binary",
                   "/usr/bin/containerd",
                   "-id",
                   "ctr1",
                   "-debug",
                   "-future-flag",
                   "start",
                   "-id",
                   "ignored",
                   NULL };
  struct shim_flags f;
  ck_assert_int_eq (shim_flags_parse (13, argv, &f), 0);
  ck_assert_str_eq (f.ns, "demo");
  ck_assert_str_eq (f.address, "/a.sock");
  ck_assert_str_eq (f.id, "ctr1");
  ck_assert (f.debug);
  ck_assert_str_eq (f.action, "start");
  char *argv2[] = { "shim", "-debug=false", "-id", NULL };
  ck_assert_int_eq (shim_flags_parse (3, argv2, &f), -1);
}
END_TEST

Suite *
vsock_suite (void)
{
  Suite *s = suite_create ("vsock");
  TCase *tc = tcase_create ("vsock");
  tcase_add_test (tc, test_hybrid_single_accept);
  tcase_add_test (tc, test_hybrid_path_too_long);
  tcase_add_test (tc, test_af_vsock_bind);
  tcase_add_test (tc, test_address_and_flags);
  suite_add_tcase (s, tc);
  return s;
}
