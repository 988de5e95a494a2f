/* See guest_io.h.  */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "guest_io.h"
#include "proto/ttrpc_frame.h"

/* One loop for both directions: read and write differ only in the call.  */
static int
transfer_all (int fd, char *p, size_t len, int writing)
{
  while (len > 0)
    {
      ssize_t n = writing ? write (fd, p, len) : read (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

int
write_all (int fd, const void *buf, size_t len)
{
  return transfer_all (fd, (char *) buf, len, 1);
}

int
read_all (int fd, void *buf, size_t len)
{
  return transfer_all (fd, buf, len, 0);
}

int
bridge_frame_send (int fd, uint32_t id, uint8_t type, const char *body)
{
  uint8_t hdr[TTRPC_HEADER_LEN];
  size_t len = strlen (body);
  struct ttrpc_header h = { (uint32_t) len, id, type, 0 };
  ttrpc_header_encode (hdr, &h);
  return write_all (fd, hdr, sizeof hdr) < 0 ? -1 : write_all (fd, body, len);
}
