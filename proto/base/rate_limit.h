/* A token bucket: events pass at a steady rate with a burst allowance, and
   those that do not pass are counted, for a periodic "N dropped" line.
   Pure: the caller gives the time.  */
#ifndef LCOW_RATE_LIMIT_H
#define LCOW_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rate_limit
{
  uint32_t per_second;
  uint32_t burst;
  /* Tokens, in thousandths (one per event).  */
  uint64_t millitokens;
  uint64_t last_ms;
  uint64_t dropped;
};

void rate_limit_init (struct rate_limit *r, uint32_t per_second,
                      uint32_t burst, uint64_t now_ms);
/* True if an event may pass at now_ms; else it is counted as dropped.  */
bool rate_limit_take (struct rate_limit *r, uint64_t now_ms);
/* The events dropped since the last call.  */
uint64_t rate_limit_take_dropped (struct rate_limit *r);

#endif
