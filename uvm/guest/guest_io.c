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
bridge_frame_send_bytes (int fd, uint32_t id, uint8_t type, uint8_t flags,
                         const void *body, size_t len)
{
  /* One write per frame: nothing else writes to the bridge in between.  */
  uint8_t buf[TTRPC_HEADER_LEN + 4096];
  struct ttrpc_header h = { (uint32_t) len, id, type, flags };
  ttrpc_header_encode (buf, &h);
  if (len <= sizeof buf - TTRPC_HEADER_LEN)
    {
      if (len > 0) /* an empty body may be NULL */
        memcpy (buf + TTRPC_HEADER_LEN, body, len);
      return write_all (fd, buf, TTRPC_HEADER_LEN + len);
    }
  return write_all (fd, buf, TTRPC_HEADER_LEN) < 0 ? -1
                                                   : write_all (fd, body, len);
}

int
bridge_frame_send (int fd, uint32_t id, uint8_t type, const char *body)
{
  return bridge_frame_send_bytes (fd, id, type, 0, body, strlen (body));
}
