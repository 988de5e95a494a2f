/* libFuzzer: the ttrpc frame decoder over byte streams cut into arbitrary
   chunks (the first byte of the input chooses the chunk sizes), and the
   ttrpc Request decoding of every whole frame.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>
#include <stdlib.h>

#include "proto/ttrpc_frame.h"
#include "ttrpc.pb-c.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  size_t chunk = (size_t) data[0] % 17 + 1;
  data++;
  size--;
  struct ttrpc_decoder d;
  ttrpc_decoder_init (&d);
  for (size_t off = 0; off < size;)
    {
      size_t len = size - off < chunk ? size - off : chunk;
      size_t used = 0;
      while (used < len)
        {
          enum ttrpc_decode_event ev;
          size_t n
              = ttrpc_decoder_feed (&d, data + off + used, len - used, &ev);
          if (n == 0 && ev == TTRPC_DECODE_NEED_MORE)
            abort (); /* no progress on non-empty input */
          used += n;
          if (ev == TTRPC_DECODE_FRAME)
            {
              if (d.header.length > TTRPC_MESSAGE_MAX)
                abort ();
              uint8_t *body = ttrpc_decoder_take_body (&d);
              Pb__Request *req
                  = pb__request__unpack (NULL, d.header.length, body);
              if (req != NULL)
                pb__request__free_unpacked (req, NULL);
              free (body);
            }
          if (ttrpc_decoder_buffered (&d)
              > TTRPC_MESSAGE_MAX + TTRPC_HEADER_LEN)
            abort ();
        }
      off += len;
    }
  ttrpc_decoder_release (&d);
  return 0;
}
