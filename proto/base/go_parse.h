/* Go strconv semantics for annotation values, reproduced exactly: upstream
   reads booleans with ParseBool and integers with ParseInt/ParseUint.  */
#ifndef LCOW_POLICY_GO_PARSE_H
#define LCOW_POLICY_GO_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1 t T TRUE true True / 0 f F FALSE false False; -1 for anything else.  */
int go_parse_bool (const char *s, bool *out);
/* Base-10 signed integer of the given bit size with an optional sign;
   -1 on syntax or range error.  */
int go_parse_int (const char *s, int bits, int64_t *out);
/* Base-10 unsigned integer of the given bit size, no sign.  */
int go_parse_uint (const char *s, int bits, uint64_t *out);
/* Exactly n go_parse_uint 32-bit fields separated by sep ("1000:1000");
   -1 on anything else.  */
int go_parse_u32_fields (const char *s, char sep, uint32_t *out, size_t n);

#endif
