/* Typed reads of parsed JSON that collect problems instead of stopping at
   the first, so that one error names every bad path ("process.user.uid:
   expected number, got string; mounts[2].type: ...").  A JSON null reads
   as absent, as Go's decoder treats it.  Shared by the OCI spec reader and
   the guest's bridge request decoder.  */
#ifndef LCOW_JSON_READER_H
#define LCOW_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "json.h"
#include "strbuf.h"

struct json_reader
{
  strbuf problems;
  size_t nproblems;
};

#define JSON_READER_INIT                                                      \
  {                                                                           \
    STRBUF_INIT, 0                                                            \
  }

void json_reader_problem (struct json_reader *r, const char *path,
                          const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* v when it has type t; NULL when absent, and a problem when of another
   type.  */
const json_value *json_reader_want (struct json_reader *r, const json_value *v,
                                    enum json_type t, const char *path);
/* Records "path.key: required" unless obj has the member.  */
void json_reader_require (struct json_reader *r, const json_value *obj,
                          const char *key, const char *path);

/* The members of obj; path (possibly "") names obj in problems.  NULL, 0 or
   false when absent or wrong.  */
/* A C string: a NUL byte inside is a problem.  */
char *json_reader_string (struct json_reader *r, const json_value *obj,
                          const char *key, const char *path);
/* Bytes that may hold NULs, with their length (NUL-terminated too).  */
char *json_reader_bytes (struct json_reader *r, const json_value *obj,
                         const char *key, const char *path, size_t *len);
bool json_reader_bool (struct json_reader *r, const json_value *obj,
                       const char *key, const char *path);
/* An unsigned integer of at most max.  */
uint64_t json_reader_uint (struct json_reader *r, const json_value *obj,
                           const char *key, const char *path, uint64_t max);
/* The same two for a value already in hand (an array item), named by
   path.  */
uint64_t json_reader_number (struct json_reader *r, const json_value *v,
                             const char *path, uint64_t max);
char *json_reader_text (struct json_reader *r, const json_value *v,
                        const char *path);
/* An array of C strings; *n of them, the array NULL-terminated.  */
char **json_reader_string_array (struct json_reader *r, const json_value *obj,
                                 const char *key, const char *path, size_t *n);

/* 0 when nothing was wrong; else -1 and InvalidArgument "<prefix><every
   problem>".  Releases the problems either way.  */
int json_reader_finish (struct json_reader *r, const char *prefix,
                        shim_error **err);

#endif
