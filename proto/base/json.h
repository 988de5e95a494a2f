/* JSON values built by the shim's own bounded builder on yajl's streaming
   parser: strings keep their length (an embedded NUL is visible), nesting
   depth and total size are capped, and a stream of consecutive values (the
   guest log) is parsed incrementally.  */
#ifndef LCOW_JSON_H
#define LCOW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum json_type
{
  JSON_NULL,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT,
};

typedef struct json_value json_value;

struct json_member
{
  char *key;
  size_t key_len;
  json_value *value;
};

struct json_value
{
  enum json_type type;
  bool boolean;
  /* JSON_STRING: the decoded text; JSON_NUMBER: the literal as written.  */
  char *str;
  size_t len;
  /* JSON_ARRAY */
  json_value **items;
  /* JSON_OBJECT, in document order */
  struct json_member *members;
  size_t count;
  size_t cap;
};

struct json_limits
{
  size_t max_depth;
  /* Upper bound of what one value may occupy in memory.  */
  size_t max_bytes;
};

typedef struct json_parser json_parser;

/* on_value receives each complete top-level value and owns it.  With
   multiple set, values may follow one another (whitespace between them is
   ignored).  */
json_parser *json_parser_new (const struct json_limits *limits, bool multiple,
                              void (*on_value) (void *ctx, json_value *v),
                              void *ctx);
/* Returns 0, or -1 with *err set (syntax, invalid UTF-8, limits).  After an
   error, json_parser_consumed tells how far the input was accepted.  */
int json_parser_feed (json_parser *p, const char *buf, size_t len,
                      shim_error **err);
int json_parser_finish (json_parser *p, shim_error **err);
/* Inside on_value: offset in the current feed just past the value.  */
size_t json_parser_offset (const json_parser *p);
/* Bytes of the last feed that yajl consumed.  */
size_t json_parser_consumed (const json_parser *p);
/* True when no value is partly built.  */
bool json_parser_idle (const json_parser *p);
void json_parser_free (json_parser *p);

/* Parses exactly one value from buf.  */
json_value *json_parse (const char *buf, size_t len,
                        const struct json_limits *limits, shim_error **err);
void json_free (json_value *v);

/* Last member with this key (JSON objects decode "last one wins").  */
const json_value *json_get (const json_value *obj, const char *key);
/* That member as a C string (a string without NUL), else NULL.  */
const char *json_get_string (const json_value *obj, const char *key);
/* That member as an unsigned integer, else 0 (absent, not a number,
   negative).  */
uint64_t json_get_u64 (const json_value *obj, const char *key);
const char *json_type_name (enum json_type t);
/* True when the string holds no NUL byte, so it is usable as a C string.  */
bool json_string_is_c (const json_value *v);

#endif
