/* libFuzzer: the vCPU sampler's reading of QEMU's "info registers -a"
   text, and the comparison of two samples.  */
#include "test/fuzz/fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uvm/vmm/vcpu_sample.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  struct vcpu_sample a, b;
  if (vcpu_sample_parse (text, &a) == 0)
    {
      b = a;
      if (!vcpu_sample_stuck (&a, &b) && a.ncpus > 0)
        for (unsigned i = 0; i < a.ncpus; i++)
          if (!a.halted[i])
            abort (); /* a sample with a running vCPU is stuck against itself
                       */
    }
  free (text);
  return 0;
}
