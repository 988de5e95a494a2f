/* See guest_port.h.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "guest_port.h"

#define VIRTIO_PORTS_DIR "/sys/class/virtio-ports"
/* The console driver adds ports (and devtmpfs their nodes) asynchronously
   after it binds: look for a while before calling a port absent.  */
#define SERIAL_SETTLE_MS 3000

static int
vsock_connect (uint32_t port)
{
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
                            .svm_cid = VMADDR_CID_HOST,
                            .svm_port = port };
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0)
    return fd;
  int saved = errno;
  close (fd);
  errno = saved;
  return -1;
}

/* No vsock transport in this VM (as opposed to a host that refused).  */
static int
vsock_absent (int e)
{
  return e == EAFNOSUPPORT || e == ENODEV || e == ESOCKTNOSUPPORT
         || e == ENETUNREACH || e == EADDRNOTAVAIL;
}

static int
serial_connect_once (uint32_t port)
{
  char want[32];
  snprintf (want, sizeof want, "vsock.%u", port);
  DIR *d = opendir (VIRTIO_PORTS_DIR);
  if (d == NULL)
    {
      errno = ECONNREFUSED;
      return -1;
    }
  int fd = -1, err = ECONNREFUSED;
  struct dirent *de;
  while (fd < 0 && (de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      char path[512], name[64] = "";
      snprintf (path, sizeof path, VIRTIO_PORTS_DIR "/%s/name", de->d_name);
      FILE *f = fopen (path, "re");
      if (f == NULL)
        continue;
      if (fgets (name, sizeof name, f) != NULL)
        name[strcspn (name, "\n")] = '\0';
      fclose (f);
      if (strcmp (name, want) != 0)
        continue;
      snprintf (path, sizeof path, "/dev/%s", de->d_name);
      fd = open (path, O_RDWR | O_CLOEXEC);
      if (fd < 0)
        err = errno;
    }
  closedir (d);
  if (fd < 0)
    errno = err;
  return fd;
}

static int
serial_connect (uint32_t port)
{
  for (int waited = 0;; waited += 10)
    {
      int fd = serial_connect_once (port);
      if (fd >= 0 || (errno != ECONNREFUSED && errno != ENOENT)
          || waited >= SERIAL_SETTLE_MS)
        return fd;
      nanosleep (&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
}

/* The host's end of the hybrid transport: <uds>_<port>.  */
static int
hybrid_connect (const char *uds, uint32_t port)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if ((size_t) snprintf (sa.sun_path, sizeof sa.sun_path, "%s_%u", uds, port)
      >= sizeof sa.sun_path)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0)
    return fd;
  int saved = errno;
  close (fd);
  errno = saved;
  return -1;
}

int
guest_port_connect (uint32_t port)
{
  const char *uds = getenv (GUEST_PORT_HYBRID_ENV);
  if (uds != NULL)
    return hybrid_connect (uds, port);
  int fd = vsock_connect (port);
  if (fd >= 0 || !vsock_absent (errno))
    return fd;
  return serial_connect (port);
}

int64_t
guest_port_parse (const char *s)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull (s, &end, 0);
  if (errno != 0 || end == s || *end != '\0' || v == 0 || v > UINT32_MAX
      || s[0] == '-')
    return -1;
  return (int64_t) v;
}
