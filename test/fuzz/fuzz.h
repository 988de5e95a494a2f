/* The libFuzzer entry point every harness defines.  */
#ifndef LCOW_TEST_FUZZ_H
#define LCOW_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#endif
