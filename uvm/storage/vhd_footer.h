/* The footer a VHD file ends with (512 bytes, big-endian): what kind of
   VHD it is and how many bytes of disk it holds.  A fixed VHD is the raw
   disk followed by its footer, so QEMU can open it as raw bytes with a
   size that leaves the footer out; that is what lets a sandbox rooted on
   it migrate (QEMU's vpc driver installs a migration blocker).  A dynamic
   VHD needs the vpc driver.  */
#ifndef LCOW_UVM_VHD_FOOTER_H
#define LCOW_UVM_VHD_FOOTER_H

#include <stdint.h>

#include "proto/base/error.h"

#define VHD_FOOTER_SIZE 512

enum vhd_type
{
  VHD_FIXED = 2,
  VHD_DYNAMIC = 3,
  VHD_DIFFERENCING = 4,
};

struct vhd_info
{
  enum vhd_type type;
  /* For a fixed VHD: the disk bytes before the footer.  */
  uint64_t data_size;
};

/* Pure: the footer read from the end of a file of file_size bytes.
   InvalidArgument naming what is wrong (cookie, checksum, type, sizes).  */
int vhd_footer_parse (const unsigned char footer[VHD_FOOTER_SIZE],
                      uint64_t file_size, struct vhd_info *out,
                      shim_error **err);
/* Reads the footer of the file at path and parses it.  */
int vhd_probe (const char *path, struct vhd_info *out, shim_error **err);

#endif
