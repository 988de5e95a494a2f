#include "layer_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base/sha256.h"
#include "proto/base/strbuf.h"

void
layer_cache_key (const char *path, uint64_t dev, uint64_t ino,
                 int64_t birth_ns, char out[LAYER_KEY_LEN + 1])
{
  strbuf b = STRBUF_INIT;
  strbuf_printf (&b, "lcow-layer-v1\n%s\n%llu\n%llu\n%lld", path,
                 (unsigned long long) dev, (unsigned long long) ino,
                 (long long) birth_ns);
  sha256_hex (b.data, b.len, out);
  strbuf_release (&b);
}

bool
layer_cache_image_name (const char *name, char key[LAYER_KEY_LEN + 1])
{
  if (strlen (name) != LAYER_KEY_LEN + strlen (".erofs")
      || strcmp (name + LAYER_KEY_LEN, ".erofs") != 0)
    return false;
  for (size_t i = 0; i < LAYER_KEY_LEN; i++)
    if (!((name[i] >= '0' && name[i] <= '9')
          || (name[i] >= 'a' && name[i] <= 'f')))
      return false;
  memcpy (key, name, LAYER_KEY_LEN);
  key[LAYER_KEY_LEN] = '\0';
  return true;
}

static int
by_use (const void *a, const void *b)
{
  const struct layer_cache_entry *x = a, *y = b;
  return (x->used_ns > y->used_ns) - (x->used_ns < y->used_ns);
}

uint64_t
layer_cache_pick_victims (struct layer_cache_entry *e, size_t n,
                          uint64_t max_bytes)
{
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++)
    {
      total += e[i].bytes;
      e[i].evict = false;
    }
  if (n > 1)
    qsort (e, n, sizeof *e, by_use);
  for (size_t i = 0; i < n && total > max_bytes; i++)
    if (!e[i].in_use)
      {
        e[i].evict = true;
        total -= e[i].bytes;
      }
  return total;
}
