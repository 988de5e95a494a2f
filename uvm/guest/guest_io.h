/* Blocking I/O for the guest programs (and the test guest): whole reads and
   writes, and one bridge frame (a ttrpc frame header and a JSON body).  */
#ifndef LCOW_GUEST_IO_H
#define LCOW_GUEST_IO_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -1 on an error or (read_all) an early end of stream.  */
int write_all (int fd, const void *buf, size_t len);
int read_all (int fd, void *buf, size_t len);
int bridge_frame_send (int fd, uint32_t id, uint8_t type, const char *body);
int bridge_frame_send_bytes (int fd, uint32_t id, uint8_t type, uint8_t flags,
                             const void *body, size_t len);

#endif
