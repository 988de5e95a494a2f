/* libFuzzer: the streaming guest-log parser, fed in chunks whose size the
   first input byte chooses; every entry it emits must be well formed.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uvm/vsock/gcs_log_parser.h"

static void
check_entry (void *data, const struct gcs_log_entry *e)
{
  (void) data;
  if (e->msg == NULL || (e->nfields > 0 && e->fields == NULL))
    abort ();
  for (size_t i = 0; i < e->nfields; i++)
    if (e->fields[i].key == NULL || e->fields[i].value == NULL
        || strlen (e->fields[i].value) > (2u << 20))
      abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  size_t chunk = (size_t) data[0] % 64 + 1;
  struct gcs_log_parser *p = gcs_log_parser_new ("fuzz", check_entry, NULL);
  for (size_t off = 1; off < size; off += chunk)
    gcs_log_parser_feed (p, (const char *) data + off,
                         size - off < chunk ? size - off : chunk);
  gcs_log_parser_finish (p);
  gcs_log_parser_free (p);
  return 0;
}
