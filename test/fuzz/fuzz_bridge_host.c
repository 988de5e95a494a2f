/* libFuzzer: the host's decoding of guest bridge frames (the first byte is
   the frame type, the rest the body).  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>
#include <string.h>

#include "uvm/bridge/bridge.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1 || size - 1 > BRIDGE_MESSAGE_MAX)
    return 0;
  struct bridge_hello h = { 0 };
  shim_error *err = NULL;
  int r = bridge_hello_decode (data[0], data + 1, size - 1, &h, &err);
  if (r < 0)
    shim_error_free (err);
  else if (r == 1
           && (h.cmdline == NULL || h.root == NULL
               || h.kernel_release == NULL))
    __builtin_trap ();
  bridge_hello_release (&h);
  return 0;
}
