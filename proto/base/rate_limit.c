#include "rate_limit.h"

void
rate_limit_init (struct rate_limit *r, uint32_t per_second, uint32_t burst,
                 uint64_t now_ms)
{
  *r = (struct rate_limit){ per_second, burst, (uint64_t) burst * 1000, now_ms,
                            0 };
}

bool
rate_limit_take (struct rate_limit *r, uint64_t now_ms)
{
  if (now_ms > r->last_ms)
    {
      uint64_t cap = (uint64_t) r->burst * 1000;
      uint64_t add = (now_ms - r->last_ms) * r->per_second;
      r->millitokens
          = add >= cap - r->millitokens ? cap : r->millitokens + add;
      r->last_ms = now_ms;
    }
  if (r->millitokens >= 1000)
    {
      r->millitokens -= 1000;
      return true;
    }
  r->dropped++;
  return false;
}

uint64_t
rate_limit_take_dropped (struct rate_limit *r)
{
  uint64_t n = r->dropped;
  r->dropped = 0;
  return n;
}
