/* The monotonic clock in milliseconds, for deadlines and durations.  */
#ifndef LCOW_CLOCK_H
#define LCOW_CLOCK_H

#include <stdint.h>

uint64_t monotonic_ms (void);

#endif
