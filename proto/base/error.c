#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static int
set_message (shim_error **err, int code, char *msg)
{
  if (err == NULL)
    {
      free (msg);
      return -1;
    }
  shim_error_free (*err);
  shim_error *e = xmalloc (sizeof *e);
  e->code = code;
  e->msg = msg;
  *err = e;
  return -1;
}

int
shim_error_set (shim_error **err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = xvasprintf (fmt, ap);
  va_end (ap);
  return set_message (err, code, msg);
}

int
shim_error_errno (shim_error **err, int code, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *head = xvasprintf (fmt, ap);
  va_end (ap);
  char *msg = xasprintf ("%s: %s", head, strerror (errnum));
  free (head);
  return set_message (err, code, msg);
}

int
shim_error_wrap (shim_error **err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return -1;
  va_list ap;
  va_start (ap, fmt);
  char *ctx = xvasprintf (fmt, ap);
  va_end (ap);
  char *msg = xasprintf ("%s: %s", ctx, (*err)->msg);
  free (ctx);
  free ((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

void
shim_error_free (shim_error *err)
{
  if (err == NULL)
    return;
  free (err->msg);
  free (err);
}

int
grpc_code_from_errno (int errnum)
{
  switch (errnum)
    {
    case ENOENT:
      return GRPC_NOT_FOUND;
    case EEXIST:
      return GRPC_ALREADY_EXISTS;
    case EPERM:
    case EACCES:
      return GRPC_PERMISSION_DENIED;
    case EINVAL:
      return GRPC_INVALID_ARGUMENT;
    case EPIPE:
      return GRPC_FAILED_PRECONDITION;
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
      return GRPC_RESOURCE_EXHAUSTED;
    default:
      return GRPC_UNKNOWN;
    }
}

const char *
grpc_code_name (int code)
{
  static const char *const names[] = {
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
  };
  if (code < 0 || code >= (int) (sizeof names / sizeof names[0]))
    return "Unknown";
  return names[code];
}
