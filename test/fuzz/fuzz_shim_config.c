/* libFuzzer: the shim configuration reader.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>

#include "uvm/config/shim_config.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct shim_config cfg;
  shim_config_defaults (&cfg);
  shim_error *err = NULL;
  if (shim_config_parse ((const char *) data, size, &cfg, &err) < 0)
    shim_error_free (err);
  shim_config_release (&cfg);
  return 0;
}
