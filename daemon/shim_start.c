/* The "start" action: find or create the grouped shim's socket, write
   <bundle>/address, start the daemon detached with the listener as fd 3,
   and print only the address.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/base/cleanup.h"
#include "proto/base/file_io.h"
#include "proto/oci_spec.h"
#include "proto/base/xalloc.h"
#include "shim_address.h"
#include "shim_cli.h"
#include "shim_socket.h"

/* Returns a listening fd, 0 when a live shim already serves the path, or -1
   with errno.  */
static int
bind_socket (const char *path)
{
  for (int attempt = 0; attempt < 2; attempt++)
    {
      int fd = shim_socket_listen (path);
      if (fd >= 0 || errno != EADDRINUSE)
        return fd;
      if (shim_socket_is_served (path))
        return 0;
      unlink (path); /* a stale socket nobody serves */
    }
  errno = EADDRINUSE;
  return -1;
}

static void
adjust_oom_score (pid_t daemon)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/oom_score_adj", (int) getppid ());
  char *text = NULL;
  size_t len = 0;
  if (read_file_capped (-1, path, 32, &text, &len, NULL) < 0)
    return;
  /* NOLINTNEXTLINE(cert-err34-c): the kernel's own number */
  int score = atoi (text) + 1;
  free (text);
  if (score > 1000)
    score = 1000;
  snprintf (path, sizeof path, "/proc/%d/oom_score_adj", (int) daemon);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  char buf[16];
  int n = snprintf (buf, sizeof buf, "%d", score);
  ssize_t w = write (fd, buf, (size_t) n);
  (void) w;
  close (fd);
}

static pid_t
spawn_daemon (const struct shim_flags *f, const char *self_exe, int listen_fd)
{
  pid_t pid = fork ();
  if (pid != 0)
    return pid;
  /* Child: stdio to /dev/null (containerd waits for EOF on our output), the
     listener as fd 3, its own process group.  */
  setpgid (0, 0);
  int devnull = open ("/dev/null", O_RDWR);
  dup2 (devnull, 0);
  dup2 (devnull, 1);
  dup2 (devnull, 2);
  if (listen_fd != 3)
    {
      dup2 (listen_fd, 3);
      close (listen_fd);
    }
  fcntl (3, F_SETFD, 0);
  /* Every other inherited fd, however high (containerd's limit is high).  */
  if (close_range (4, ~0u, 0) < 0)
    for (long fd = 4, max = sysconf (_SC_OPEN_MAX); fd < max; fd++)
      close ((int) fd);
  char *argv[10];
  int n = 0;
  argv[n++] = (char *) self_exe;
  argv[n++] = (char *) "-namespace";
  argv[n++] = (char *) f->ns;
  argv[n++] = (char *) "-id";
  argv[n++] = (char *) f->id;
  argv[n++] = (char *) "-address";
  argv[n++] = (char *) (f->address ? f->address : "");
  if (f->debug)
    argv[n++] = (char *) "-debug";
  argv[n] = NULL;
  execv (self_exe, argv);
  _exit (127);
}

static void
drain_stdin (void)
{
  /* containerd writes the runtime options here; read them so its write
     never fails.  The daemon gets them again in Create.  */
  char buf[4096];
  size_t total = 0;
  ssize_t n;
  while (total < (1u << 20) && (n = read (0, buf, sizeof buf)) > 0)
    total += (size_t) n;
}

int
shim_start_main (const struct shim_flags *f, const char *self_exe)
{
  if (f->id == NULL || f->address == NULL)
    {
      fprintf (stderr, "start: -id and -address are required\n");
      return 1;
    }
  struct oci_spec *spec = NULL;
  shim_error *err = NULL;
  /* containerd's sandbox API starts a sandbox's shim in a bundle without a
     spec: a shim of its own, whose calls say what is served.  */
  bool has_spec = access ("config.json", F_OK) == 0 || errno != ENOENT;
  if (has_spec && oci_spec_load_bundle (".", &spec, &err) < 0)
    {
      fprintf (stderr, "start %s: %s\n", f->id, err->msg);
      shim_error_free (err);
      return 1;
    }
  const char *group
      = spec ? oci_spec_annotation (spec, "io.containerd.runc.v2.group")
             : NULL;
  if (group == NULL && spec != NULL)
    group = oci_spec_annotation (spec, "io.kubernetes.cri.sandbox-id");
  if (group == NULL || *group == '\0')
    group = f->id;
  cleanup_free char *address = shim_socket_address (f->address, f->ns, group);
  oci_spec_free (spec);
  const char *path = shim_socket_path (address);

  if (mkdir_p (shim_socket_dir (), 0711, &err) < 0)
    {
      fprintf (stderr, "start %s: %s\n", f->id, err->msg);
      shim_error_free (err);
      return 1;
    }
  int fd = bind_socket (path);
  if (fd < 0)
    {
      fprintf (stderr, "start %s: listen on %s: %s\n", f->id, path,
               strerror (errno));
      return 1;
    }
  if (write_file_atomic ("address", address, strlen (address), &err) < 0)
    {
      fprintf (stderr, "start %s: %s\n", f->id, err->msg);
      shim_error_free (err);
      if (fd > 0)
        {
          close (fd);
          unlink (path);
        }
      return 1;
    }
  if (fd > 0)
    {
      pid_t pid = spawn_daemon (f, self_exe, fd);
      close (fd);
      if (pid < 0)
        {
          fprintf (stderr, "start %s: fork: %s\n", f->id, strerror (errno));
          unlink (path);
          return 1;
        }
      adjust_oom_score (pid);
    }
  drain_stdin ();
  /* containerd parses this: a short write must fail the start.  */
  if (fputs (address, stdout) == EOF || fflush (stdout) != 0)
    {
      fprintf (stderr, "start %s: write the address: %s\n", f->id,
               strerror (errno));
      return 1;
    }
  return 0;
}
