/* See vhd_footer.h.  Offsets from the VHD specification's footer layout.  */
#include "vhd_footer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/cleanup.h"

#define COOKIE "conectix"
#define OFF_DATA_OFFSET 16
#define OFF_CURRENT_SIZE 48
#define OFF_DISK_TYPE 60
#define OFF_CHECKSUM 64

static uint64_t
be (const unsigned char *p, int n)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

int
vhd_footer_parse (const unsigned char footer[VHD_FOOTER_SIZE],
                  uint64_t file_size, struct vhd_info *out, shim_error **err)
{
  if (memcmp (footer, COOKIE, strlen (COOKIE)) != 0)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "not a VHD: no \"" COOKIE "\" footer");
  uint32_t sum = 0;
  for (int i = 0; i < VHD_FOOTER_SIZE; i++)
    if (i < OFF_CHECKSUM || i >= OFF_CHECKSUM + 4)
      sum += footer[i];
  uint32_t checksum = (uint32_t) be (footer + OFF_CHECKSUM, 4);
  if ((uint32_t) ~sum != checksum)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "VHD footer checksum %#x, expected %#x", checksum,
                           (uint32_t) ~sum);
  uint32_t type = (uint32_t) be (footer + OFF_DISK_TYPE, 4);
  uint64_t current = be (footer + OFF_CURRENT_SIZE, 8);
  if (type == VHD_DYNAMIC || type == VHD_DIFFERENCING)
    {
      *out = (struct vhd_info){ (enum vhd_type) type, 0 };
      return 0;
    }
  if (type != VHD_FIXED)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "VHD disk type %u is none of fixed (2), dynamic "
                           "(3) and differencing (4)",
                           type);
  if (file_size < VHD_FOOTER_SIZE || current > file_size - VHD_FOOTER_SIZE)
    return shim_error_set (err, GRPC_INVALID_ARGUMENT,
                           "fixed VHD of %llu bytes says it holds %llu",
                           (unsigned long long) file_size,
                           (unsigned long long) current);
  *out = (struct vhd_info){ VHD_FIXED, file_size - VHD_FOOTER_SIZE };
  return 0;
}

int
vhd_probe (const char *path, struct vhd_info *out, shim_error **err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  unsigned char footer[VHD_FOOTER_SIZE];
  if (fd < 0 || fstat (fd, &st) < 0)
    return shim_error_errno (err, GRPC_FAILED_PRECONDITION, errno, "%s", path);
  if (st.st_size < VHD_FOOTER_SIZE
      || pread (fd, footer, sizeof footer, st.st_size - VHD_FOOTER_SIZE)
             != (ssize_t) sizeof footer)
    return shim_error_set (err, GRPC_FAILED_PRECONDITION,
                           "%s: too short for a VHD footer", path);
  if (vhd_footer_parse (footer, (uint64_t) st.st_size, out, err) < 0)
    {
      (*err)->code = GRPC_FAILED_PRECONDITION;
      return shim_error_wrap (err, "%s", path);
    }
  return 0;
}
