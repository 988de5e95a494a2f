/* A stand-in guest for the exec VMM backend, behaving like the UVM's init
   over the hybrid-vsock transport (host port P at $LCOW_VSOCK_UDS_P):
   reads its kernel command line, takes 512 bytes of entropy from port 1,
   and - only if the command line runs /bin/vsockexec -e 109 - writes logrus
   JSON logs to port 109; then says hello to the agent port 0x40000000 and
   stays up until killed.
   Options (the shim config's vmm_args):
     --logs N        JSON log lines to write (default 3)
     --panic         after the logs, write a Go-style panic text
     --no-gcs        never connect to the agent port
     --exit-after MS exit(0) after MS milliseconds
     --exit-code C   exit code for --exit-after  */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/base/strbuf.h"
#include "uvm/bridge/bridge_protocol.h"
#include "uvm/guest/guest_io.h"

static int
connect_port (const char *uds, unsigned port)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s_%u", uds, port);
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      fprintf (stderr, "fake-guest: connect: port %u: %s\n", port,
               strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

int
main (int argc, char **argv)
{
  int logs = 3, panic_text = 0, no_gcs = 0, exit_code = 0;
  long exit_after = -1;
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--logs") == 0 && i + 1 < argc)
        logs = atoi (argv[++i]);
      else if (strcmp (argv[i], "--panic") == 0)
        panic_text = 1;
      else if (strcmp (argv[i], "--no-gcs") == 0)
        no_gcs = 1;
      else if (strcmp (argv[i], "--exit-after") == 0 && i + 1 < argc)
        exit_after = atol (argv[++i]);
      else if (strcmp (argv[i], "--exit-code") == 0 && i + 1 < argc)
        exit_code = atoi (argv[++i]);
    }
  const char *cmdline = getenv ("LCOW_KERNEL_CMDLINE");
  const char *uds = getenv ("LCOW_VSOCK_UDS");
  if (cmdline == NULL || uds == NULL)
    {
      fprintf (stderr, "fake-guest: LCOW_KERNEL_CMDLINE and LCOW_VSOCK_UDS "
                       "must be set\n");
      return 1;
    }
  fprintf (stderr, "fake-guest: booting with: %s\n", cmdline);

  /* init -e 1: entropy from the host.  */
  const char *init_args = strstr (cmdline, " -- ");
  if (init_args != NULL && strncmp (init_args, " -- -e 1", 8) == 0)
    {
      int fd = connect_port (uds, 1);
      if (fd < 0)
        return 1;
      unsigned char seed[512];
      size_t have = 0;
      ssize_t n;
      while (have < sizeof seed
             && (n = read (fd, seed + have, sizeof seed - have)) > 0)
        have += (size_t) n;
      close (fd);
      fprintf (stderr, "fake-guest: read %zu bytes of entropy\n", have);
    }

  /* vsockexec -e 109: the agent's stderr goes to the host log port; a
     failed connect ends the guest, as upstream's vsockexec does.  */
  if (strstr (cmdline, "/bin/vsockexec -e 109 ") != NULL)
    {
      int fd = connect_port (uds, 109);
      if (fd < 0)
        return 1;
      char line[512];
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      for (int i = 0; i < logs; i++)
        {
          const char *level = i % 3 == 0   ? "info"
                              : i % 3 == 1 ? "debug"
                                           : "fatal";
          int n
              = snprintf (line, sizeof line,
                          "{\"time\":\"2026-11-22T10:30:%02d.5Z\",\"level\":"
                          "\"%s\",\"msg\":\"fake guest log %d\",\"index\":%d."
                          "0,\"ratio\":0.25}\n",
                          i % 60, level, i, i);
          write_all (fd, line, (size_t) n);
        }
      if (panic_text)
        {
          const char *p = "panic: fake guest agent failure\n\ngoroutine 1 "
                          "[running]:\nmain.main()\n\t/gcs/main.go:42\n";
          write_all (fd, p, strlen (p));
        }
      /* Keep it open, as the agent's stderr stays open for its life.  */
    }
  else
    fprintf (stderr, "fake-guest: no log forwarder on the command line\n");

  if (!no_gcs)
    {
      int fd = connect_port (uds, 0x40000000u);
      if (fd < 0)
        return 1;
      const char *cpus = getenv ("LCOW_CPUS");
      const char *mem = getenv ("LCOW_MEMORY_MB");
      strbuf body = STRBUF_INIT;
      strbuf_printf (&body, "{\"type\":\"hello\",\"protocol\":%d,\"cmdline\":",
                     BRIDGE_PROTOCOL_VERSION);
      strbuf_json_string (&body, cmdline, strlen (cmdline));
      strbuf_printf (&body,
                     ",\"kernel_release\":\"fake-guest\",\"root\":\"%s\","
                     "\"cpus\":%s,\"memory_mb\":%s}",
                     getenv ("LCOW_ROOTFS_VHD") ? "/dev/sda" : "rootfs",
                     cpus ? cpus : "0", mem ? mem : "0");
      bridge_frame_send (fd, 1, BRIDGE_TYPE_NOTIFY, body.data);
      strbuf_release (&body);
    }

  if (exit_after >= 0)
    {
      usleep ((useconds_t) exit_after * 1000);
      return exit_code;
    }
  for (;;)
    pause ();
}
