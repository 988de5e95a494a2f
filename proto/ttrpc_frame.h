/* ttrpc framing: a 10-byte big-endian header (data length, stream id, type,
   flags) followed by the data.  Pure code: an incremental decoder that takes
   bytes in any chunking, and an encoder.  */
#ifndef LCOW_TTRPC_FRAME_H
#define LCOW_TTRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define TTRPC_HEADER_LEN 10
#define TTRPC_MESSAGE_MAX (4u << 20)

enum ttrpc_type
{
  TTRPC_TYPE_REQUEST = 1,
  TTRPC_TYPE_RESPONSE = 2,
  TTRPC_TYPE_DATA = 3,
};

struct ttrpc_header
{
  uint32_t length;
  uint32_t stream_id;
  uint8_t type;
  uint8_t flags;
};

void ttrpc_header_encode (uint8_t out[TTRPC_HEADER_LEN],
                          const struct ttrpc_header *h);
void ttrpc_header_decode (const uint8_t in[TTRPC_HEADER_LEN],
                          struct ttrpc_header *h);

/* Appends one frame; the caller guarantees len <= TTRPC_MESSAGE_MAX.  */
void ttrpc_frame_append (strbuf *out, uint32_t stream_id, uint8_t type,
                         uint8_t flags, const void *data, size_t len);

enum ttrpc_decode_event
{
  TTRPC_DECODE_NEED_MORE = 0,
  /* A whole frame: header and body are in the decoder.  */
  TTRPC_DECODE_FRAME,
  /* The header announced more than TTRPC_MESSAGE_MAX; its data is being
     discarded.  The header is in the decoder.  */
  TTRPC_DECODE_OVERSIZED,
};

struct ttrpc_decoder
{
  uint8_t hdr_bytes[TTRPC_HEADER_LEN];
  size_t hdr_have;
  struct ttrpc_header header;
  uint8_t *body;
  size_t body_have;
  uint64_t discard_left;
};

void ttrpc_decoder_init (struct ttrpc_decoder *d);
/* Consumes bytes up to the end of the next event; returns how many.  Call
   again with the rest of the buffer while it returns less than len.  */
size_t ttrpc_decoder_feed (struct ttrpc_decoder *d, const uint8_t *buf,
                           size_t len, enum ttrpc_decode_event *event);
/* After TTRPC_DECODE_FRAME: hands the body (malloc'd, NULL when empty) to
   the caller.  */
uint8_t *ttrpc_decoder_take_body (struct ttrpc_decoder *d);
/* Bytes the decoder currently holds for an unfinished frame.  */
size_t ttrpc_decoder_buffered (const struct ttrpc_decoder *d);
/* Appends those bytes, as they came (the unfinished frame's start), to
   out: what another decoder fed them continues where this one stopped.  */
void ttrpc_decoder_copy_partial (const struct ttrpc_decoder *d, strbuf *out);
void ttrpc_decoder_release (struct ttrpc_decoder *d);

#endif
