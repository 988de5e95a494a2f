/* The shim's error: a gRPC status code plus a message, wrapped with context
   on the way up ("create sandbox: annotation policy: ...") and turned into a
   ttrpc status at the RPC boundary.  */
#ifndef LCOW_ERROR_H
#define LCOW_ERROR_H

#include <stdarg.h>

/* gRPC status codes as carried in google.rpc.Status.code.  */
enum grpc_code
{
  GRPC_OK = 0,
  GRPC_CANCELED = 1,
  GRPC_UNKNOWN = 2,
  GRPC_INVALID_ARGUMENT = 3,
  GRPC_DEADLINE_EXCEEDED = 4,
  GRPC_NOT_FOUND = 5,
  GRPC_ALREADY_EXISTS = 6,
  GRPC_PERMISSION_DENIED = 7,
  GRPC_RESOURCE_EXHAUSTED = 8,
  GRPC_FAILED_PRECONDITION = 9,
  GRPC_ABORTED = 10,
  GRPC_OUT_OF_RANGE = 11,
  GRPC_UNIMPLEMENTED = 12,
  GRPC_INTERNAL = 13,
  GRPC_UNAVAILABLE = 14,
  GRPC_DATA_LOSS = 15,
  GRPC_UNAUTHENTICATED = 16,
};

typedef struct shim_error
{
  int code;
  char *msg;
} shim_error;

/* Sets *err (when err is not NULL) and returns -1, so a failing call site is
   "return shim_error_set (err, code, ...);".  */
int shim_error_set (shim_error **err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Like shim_error_set, appending ": strerror(errnum)".  */
int shim_error_errno (shim_error **err, int code, int errnum, const char *fmt,
                      ...) __attribute__ ((format (printf, 4, 5)));

/* Prefixes the message of *err with context; returns -1.  */
int shim_error_wrap (shim_error **err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

void shim_error_free (shim_error *err);

/* The gRPC code for an errno value, as ttrpc's Go server maps them.  */
int grpc_code_from_errno (int errnum);

const char *grpc_code_name (int code);

static inline void
cleanup_error_fn (shim_error **e)
{
  shim_error_free (*e);
}
#define cleanup_error __attribute__ ((cleanup (cleanup_error_fn)))

#endif
