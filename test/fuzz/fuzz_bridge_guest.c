/* libFuzzer: the guest agent's classification of host requests.  */
#include <stdint.h>

#include "uvm/guest/bridge_request.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  enum bridge_request r = bridge_request_classify ((const char *) data, size);
  if (r != BRIDGE_REQUEST_INVALID && r != BRIDGE_REQUEST_SHUTDOWN
      && r != BRIDGE_REQUEST_UNSUPPORTED)
    __builtin_trap ();
  return 0;
}
