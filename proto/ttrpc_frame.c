#include "ttrpc_frame.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}

static uint32_t
get_be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8
         | (uint32_t) p[3];
}

void
ttrpc_header_encode (uint8_t out[TTRPC_HEADER_LEN],
                     const struct ttrpc_header *h)
{
  put_be32 (out, h->length);
  put_be32 (out + 4, h->stream_id);
  out[8] = h->type;
  out[9] = h->flags;
}

void
ttrpc_header_decode (const uint8_t in[TTRPC_HEADER_LEN],
                     struct ttrpc_header *h)
{
  h->length = get_be32 (in);
  h->stream_id = get_be32 (in + 4);
  h->type = in[8];
  h->flags = in[9];
}

void
ttrpc_frame_append (strbuf *out, uint32_t stream_id, uint8_t type,
                    uint8_t flags, const void *data, size_t len)
{
  struct ttrpc_header h = { (uint32_t) len, stream_id, type, flags };
  uint8_t hdr[TTRPC_HEADER_LEN];
  ttrpc_header_encode (hdr, &h);
  strbuf_append (out, hdr, sizeof hdr);
  strbuf_append (out, data, len);
}

void
ttrpc_decoder_init (struct ttrpc_decoder *d)
{
  memset (d, 0, sizeof *d);
}

size_t
ttrpc_decoder_feed (struct ttrpc_decoder *d, const uint8_t *buf, size_t len,
                    enum ttrpc_decode_event *event)
{
  size_t used = 0;
  *event = TTRPC_DECODE_NEED_MORE;

  if (d->discard_left > 0)
    {
      size_t n = len < d->discard_left ? len : (size_t) d->discard_left;
      d->discard_left -= n;
      used += n;
      if (d->discard_left > 0)
        return used;
    }

  for (;;)
    {
      if (d->hdr_have < TTRPC_HEADER_LEN)
        {
          if (used == len)
            return used;
          size_t n = TTRPC_HEADER_LEN - d->hdr_have;
          if (n > len - used)
            n = len - used;
          memcpy (d->hdr_bytes + d->hdr_have, buf + used, n);
          d->hdr_have += n;
          used += n;
          if (d->hdr_have < TTRPC_HEADER_LEN)
            return used;
          ttrpc_header_decode (d->hdr_bytes, &d->header);
          if (d->header.length > TTRPC_MESSAGE_MAX)
            {
              /* Never allocate what an oversized header announces.  */
              d->hdr_have = 0;
              size_t skip = d->header.length;
              size_t avail = len - used;
              size_t n2 = avail < skip ? avail : skip;
              used += n2;
              d->discard_left = skip - n2;
              *event = TTRPC_DECODE_OVERSIZED;
              return used;
            }
          d->body = d->header.length ? xmalloc (d->header.length) : NULL;
          d->body_have = 0;
        }
      size_t want = d->header.length - d->body_have;
      size_t n = want < len - used ? want : len - used;
      if (n)
        memcpy (d->body + d->body_have, buf + used, n);
      d->body_have += n;
      used += n;
      if (d->body_have == d->header.length)
        {
          d->hdr_have = 0;
          *event = TTRPC_DECODE_FRAME;
          return used;
        }
      return used;
    }
}

uint8_t *
ttrpc_decoder_take_body (struct ttrpc_decoder *d)
{
  uint8_t *b = d->body;
  d->body = NULL;
  d->body_have = 0;
  return b;
}

size_t
ttrpc_decoder_buffered (const struct ttrpc_decoder *d)
{
  return d->hdr_have < TTRPC_HEADER_LEN ? d->hdr_have
                                        : TTRPC_HEADER_LEN + d->body_have;
}

void
ttrpc_decoder_copy_partial (const struct ttrpc_decoder *d, strbuf *out)
{
  strbuf_append (out, d->hdr_bytes, d->hdr_have);
  if (d->hdr_have == TTRPC_HEADER_LEN && d->body_have > 0)
    strbuf_append (out, d->body, d->body_have);
}

void
ttrpc_decoder_release (struct ttrpc_decoder *d)
{
  free (d->body);
  ttrpc_decoder_init (d);
}
