/* The PortForward steering, with a real network namespace (a child's,
   named by /proc/<pid>/ns/net): a TCP connection to 127.0.0.1 on any port
   there lands on the shim's one listener, which sees the port asked for;
   other addresses are left alone; the host's own namespace is refused.  */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"
#include "uvm/podnet/pod_port_steer.h"

/* In a new network namespace with lo up: for each byte the parent
   writes on cmd, a connection to 127.0.0.1:<port>; the answer is the
   connect's errno (0: connected) on ans.  */
static __attribute__ ((noreturn)) void
namespace_child (int cmd, int ans)
{
  struct ifreq ifr = { .ifr_name = "lo" };
  char ok = 0;
  /* The socket after unshare: an ioctl acts on its socket's namespace.  */
  int s = unshare (CLONE_NEWNET) == 0 ? socket (AF_INET, SOCK_DGRAM, 0) : -1;
  if (s < 0 || ioctl (s, SIOCGIFFLAGS, &ifr) < 0)
    ok = 1;
  ifr.ifr_flags |= IFF_UP;
  if (ok == 0 && ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
    ok = 1;
  if (write (ans, &ok, 1) != 1)
    _exit (1);
  uint16_t port;
  while (read (cmd, &port, sizeof port) == sizeof port)
    {
      int c = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      struct sockaddr_in to = { .sin_family = AF_INET,
                                .sin_port = htons (port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
      int e = connect (c, (struct sockaddr *) &to, sizeof to) < 0 ? errno : 0;
      struct pollfd p = { c, POLLOUT, 0 };
      socklen_t len = sizeof e;
      if (e == EINPROGRESS)
        e = poll (&p, 1, 1000) == 1
                    && getsockopt (c, SOL_SOCKET, SO_ERROR, &e, &len) == 0
                ? e
                : ETIMEDOUT;
      close (c);
      if (write (ans, &e, sizeof e) != sizeof e)
        _exit (1);
    }
  _exit (0);
}

START_TEST (steered_with_its_port)
{
  if (geteuid () != 0)
    {
      fprintf (stderr, "steered_with_its_port: skipped, needs root for a "
                       "network namespace and BPF\n");
      return;
    }
  int cmd[2], ans[2];
  ck_assert_int_eq (pipe (cmd), 0);
  ck_assert_int_eq (pipe (ans), 0);
  pid_t child = fork ();
  ck_assert_int_ge (child, 0);
  if (child == 0)
    {
      /* Its end of cmd must close with the parent's, to end the child.  */
      close (cmd[1]);
      close (ans[0]);
      namespace_child (cmd[0], ans[1]);
    }
  char ready = 1;
  ck_assert_int_eq (read (ans[0], &ready, 1), 1);
  ck_assert_int_eq (ready, 0);

  char path[64];
  snprintf (path, sizeof path, "/proc/%d/ns/net", (int) child);
  struct pod_port_steer steer;
  shim_error *err = NULL;
  ck_assert_msg (pod_port_steer_open (path, &steer, &err) == 0, "%s",
                 err ? err->msg : "");

  /* Two ports nothing listens on: both land on the listener.  */
  static const uint16_t ports[] = { 8080, 5 };
  for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
    {
      int e = -1;
      ck_assert_int_eq (write (cmd[1], &ports[i], sizeof ports[i]),
                        sizeof ports[i]);
      ck_assert_int_eq (read (ans[0], &e, sizeof e), sizeof e);
      ck_assert_int_eq (e, 0);
      struct pollfd p = { steer.listen_fd, POLLIN, 0 };
      ck_assert_int_eq (poll (&p, 1, 5000), 1);
      int conn = accept (steer.listen_fd, NULL, NULL);
      ck_assert_int_ge (conn, 0);
      struct sockaddr_in local;
      socklen_t len = sizeof local;
      ck_assert_int_eq (getsockname (conn, (struct sockaddr *) &local, &len),
                        0);
      ck_assert_uint_eq (ntohs (local.sin_port), ports[i]);
      close (conn);
    }
  /* Once the link is closed (released by the kernel shortly after), the
     namespace is as it was: refused.  */
  pod_port_steer_close (&steer);
  ck_assert_int_eq (steer.listen_fd, -1);
  int e = 0;
  for (int i = 0; i < 3 && e != ECONNREFUSED; i++)
    {
      ck_assert_int_eq (write (cmd[1], &ports[0], sizeof ports[0]),
                        sizeof ports[0]);
      ck_assert_int_eq (read (ans[0], &e, sizeof e), sizeof e);
    }
  ck_assert_int_eq (e, ECONNREFUSED);

  close (cmd[1]);
  int status;
  ck_assert_int_eq (waitpid (child, &status, 0), child);
  ck_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  close (cmd[0]);
  close (ans[0]);
  close (ans[1]);
}
END_TEST

START_TEST (host_namespace_refused)
{
  struct pod_port_steer steer;
  shim_error *err = NULL;
  ck_assert_int_eq (pod_port_steer_open ("/proc/self/ns/net", &steer, &err),
                    -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  ck_assert_msg (strstr (err->msg, "is the host's network namespace") != NULL,
                 "%s", err->msg);
  ck_assert_int_eq (steer.listen_fd, -1);
  shim_error_free (err);
  err = NULL;
  ck_assert_int_eq (pod_port_steer_open ("/nonexistent/netns", &steer, &err),
                    -1);
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  ck_assert_msg (strstr (err->msg, "/nonexistent/netns") != NULL, "%s",
                 err->msg);
  shim_error_free (err);
}
END_TEST

Suite *
port_steer_suite (void)
{
  Suite *s = suite_create ("port_steer");
  TCase *t = tcase_create ("namespace");
  tcase_add_test (t, steered_with_its_port);
  tcase_add_test (t, host_namespace_refused);
  suite_add_tcase (s, t);
  return s;
}
