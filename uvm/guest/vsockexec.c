/* vsockexec: connects stdin (-i), stdout (-o) and/or stderr (-e) to host
   vsock ports, one connection per distinct port, then execs the program.
   A failed connect exits 1, so the program never starts without its
   stream.

   -r (relay): the program's stdout and stderr go into a pipe this process
   forwards to the output port (-e, else -o), dialling every 100 ms until
   the host listens and again whenever a write fails: a VM that moved to
   another host finds that host's listener, and the log goes on.  The
   exit status is the program's (a signal: 128 + its number); SIGTERM,
   SIGINT and SIGHUP are passed on to it.  */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_port.h"

#define REDIAL_MS 100

static pid_t relayed_child;

static void
usage (const char *argv0)
{
  fprintf (stderr,
           "usage: %s [-r] [-i port] [-o port] [-e port] -- program "
           "[args...]\n",
           argv0);
}

static void
pass_signal (int sig)
{
  if (relayed_child > 0)
    kill (relayed_child, sig);
}

/* A connection to port, dialled until one is made.  */
static int
dial_until_connected (uint32_t port)
{
  struct timespec pause = { 0, REDIAL_MS * 1000000L };
  for (;;)
    {
      int fd = guest_port_connect (port);
      if (fd >= 0)
        return fd;
      nanosleep (&pause, NULL);
    }
}

/* Writes all of buf to *fd, redialling port as often as a write fails.  */
static void
forward (int *fd, uint32_t port, const char *buf, size_t len)
{
  size_t off = 0;
  while (off < len)
    {
      if (*fd < 0)
        *fd = dial_until_connected (port);
      ssize_t n = write (*fd, buf + off, len - off);
      if (n > 0)
        off += (size_t) n;
      else if (n < 0 && errno != EINTR)
        {
          close (*fd);
          *fd = -1;
        }
    }
}

static int
relay (uint32_t port, int stdin_fd, char **argv)
{
  int p[2];
  if (pipe (p) < 0)
    {
      perror ("pipe");
      return 1;
    }
  relayed_child = fork ();
  if (relayed_child < 0)
    {
      perror ("fork");
      return 1;
    }
  if (relayed_child == 0)
    {
      if (dup2 (p[1], 1) < 0 || dup2 (p[1], 2) < 0
          || (stdin_fd >= 0 && dup2 (stdin_fd, 0) < 0))
        _exit (1);
      close (p[0]);
      close (p[1]);
      execvp (argv[0], argv);
      fprintf (stderr, "exec %s: %s\n", argv[0], strerror (errno));
      _exit (1);
    }
  close (p[1]);
  if (stdin_fd >= 0)
    close (stdin_fd);
  struct sigaction pass = { .sa_handler = pass_signal };
  sigaction (SIGTERM, &pass, NULL);
  sigaction (SIGINT, &pass, NULL);
  sigaction (SIGHUP, &pass, NULL);
  signal (SIGPIPE, SIG_IGN);
  int out = dial_until_connected (port);
  char buf[16384];
  for (;;)
    {
      ssize_t n = read (p[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      forward (&out, port, buf, (size_t) n);
    }
  int status = 0;
  while (waitpid (relayed_child, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return WEXITSTATUS (status);
}

int
main (int argc, char **argv)
{
  int64_t ports[3] = { -1, -1, -1 };
  bool relay_mode = false;
  int opt;
  while ((opt = getopt (argc, argv, "+ri:o:e:")) != -1)
    {
      if (opt == 'r')
        {
          relay_mode = true;
          continue;
        }
      int target = opt == 'i' ? 0 : opt == 'o' ? 1 : opt == 'e' ? 2 : -1;
      if (target < 0)
        {
          usage (argv[0]);
          return 1;
        }
      ports[target] = guest_port_parse (optarg);
      if (ports[target] < 0)
        {
          fprintf (stderr, "invalid port: %s\n", optarg);
          return 1;
        }
    }
  if (optind >= argc)
    {
      usage (argv[0]);
      return 1;
    }
  if (relay_mode && ports[1] < 0 && ports[2] < 0)
    {
      fprintf (stderr, "-r needs an output port (-o or -e)\n");
      return 1;
    }
  int fds[3] = { -1, -1, -1 };
  /* In relay mode only stdin is connected here.  */
  for (int i = 0; i < (relay_mode ? 1 : 3); i++)
    {
      if (ports[i] < 0)
        continue;
      for (int j = 0; j < i && fds[i] < 0; j++)
        if (ports[j] == ports[i])
          fds[i] = fds[j];
      if (fds[i] < 0)
        fds[i] = guest_port_connect ((uint32_t) ports[i]);
      if (fds[i] < 0)
        {
          fprintf (stderr, "connect: port %lld: %s\n", (long long) ports[i],
                   strerror (errno));
          return 1;
        }
    }
  if (relay_mode)
    return relay ((uint32_t) (ports[2] >= 0 ? ports[2] : ports[1]), fds[0],
                  argv + optind);
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0 && dup2 (fds[i], i) < 0)
      {
        perror ("dup2");
        return 1;
      }
  execvp (argv[optind], argv + optind);
  fprintf (stderr, "exec %s: %s\n", argv[optind], strerror (errno));
  return 1;
}
