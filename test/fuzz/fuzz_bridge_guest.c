/* libFuzzer: the guest agent's decoder of host requests.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>

#include "uvm/guest/bridge_request.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct bridge_request r;
  shim_error *err = NULL;
  if (bridge_request_decode ((const char *) data, size, &r, &err) == 0)
    {
      /* What each kind needs is there when it decodes.  */
      if ((r.kind == BRIDGE_REQUEST_CREATE || r.kind == BRIDGE_REQUEST_EXEC)
          && (r.container == NULL || r.spec == NULL))
        __builtin_trap ();
      bridge_request_release (&r);
    }
  else if (err == NULL || err->msg == NULL)
    __builtin_trap ();
  shim_error_free (err);
  return 0;
}
