#include "go_parse.h"

#include <string.h>

int
go_parse_bool (const char *s, bool *out)
{
  static const char *const truthy[]
      = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const falsy[]
      = { "0", "f", "F", "FALSE", "false", "False" };
  for (size_t i = 0; i < 6; i++)
    {
      if (strcmp (s, truthy[i]) == 0)
        {
          *out = true;
          return 0;
        }
      if (strcmp (s, falsy[i]) == 0)
        {
          *out = false;
          return 0;
        }
    }
  return -1;
}

static int
parse_digits (const char *s, uint64_t limit, uint64_t *out)
{
  if (*s == '\0')
    return -1;
  uint64_t v = 0;
  for (; *s; s++)
    {
      if (*s < '0' || *s > '9')
        return -1;
      unsigned d = (unsigned) (*s - '0');
      if (v > (limit - d) / 10)
        return -1;
      v = v * 10 + d;
    }
  *out = v;
  return 0;
}

int
go_parse_uint (const char *s, int bits, uint64_t *out)
{
  uint64_t limit = bits >= 64 ? UINT64_MAX : ((uint64_t) 1 << bits) - 1;
  return parse_digits (s, limit, out);
}

int
go_parse_u32_fields (const char *s, char sep, uint32_t *out, size_t n)
{
  char field[16];
  for (size_t i = 0; i < n; i++)
    {
      const char *end = i + 1 < n ? strchr (s, sep) : s + strlen (s);
      if (end == NULL || (size_t) (end - s) >= sizeof field)
        return -1;
      memcpy (field, s, (size_t) (end - s));
      field[end - s] = '\0';
      uint64_t v;
      if (go_parse_uint (field, 32, &v) < 0)
        return -1;
      out[i] = (uint32_t) v;
      s = end + 1;
    }
  return 0;
}

int
go_parse_int (const char *s, int bits, int64_t *out)
{
  bool neg = *s == '-';
  if (*s == '-' || *s == '+')
    s++;
  uint64_t max = (uint64_t) 1 << (bits - 1);
  uint64_t v;
  if (parse_digits (s, neg ? max : max - 1, &v) < 0)
    return -1;
  *out = neg ? (int64_t) (0 - v) : (int64_t) v;
  return 0;
}
