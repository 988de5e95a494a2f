/* vsockexec: connects stdin (-i), stdout (-o) and/or stderr (-e) to host
   vsock ports, one connection per distinct port, then execs the program.
   A failed connect exits 1, so the program never starts without its
   stream.  */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest_port.h"

static void
usage (const char *argv0)
{
  fprintf (stderr,
           "usage: %s [-i port] [-o port] [-e port] -- program "
           "[args...]\n",
           argv0);
}

int
main (int argc, char **argv)
{
  int64_t ports[3] = { -1, -1, -1 };
  int opt;
  while ((opt = getopt (argc, argv, "+i:o:e:")) != -1)
    {
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
  int fds[3] = { -1, -1, -1 };
  for (int i = 0; i < 3; i++)
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
