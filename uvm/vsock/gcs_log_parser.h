/* The guest agent's log stream (port 109): consecutive logrus JSON objects,
   not lines, split anywhere across reads.  Each object becomes one host log
   entry at its level (fatal and panic clamped to error, missing level info,
   an unknown level ends parsing), with the ETW message rule, the other keys
   as fields (whole floats as integers; the first GCS_LOG_FIELDS_MAX; keys
   made safe for a logfmt line, and one that names a host field - uvm-id,
   vm.time, namespace, runtime - kept as guest.<key>), plus uvm-id and
   vm.time.  Linear in the entry's size.  After the
   first undecodable input, everything left is reported once as "gcs
   terminated" with a stderr field (how a guest panic surfaces).  Pure.  */
#ifndef LCOW_UVM_GCS_LOG_PARSER_H
#define LCOW_UVM_GCS_LOG_PARSER_H

#include <stddef.h>

#include "proto/base/log.h"

/* Largest object, and largest trailing text, kept; beyond is cut.  */
#define GCS_LOG_ENTRY_MAX (1u << 20)
/* Guest fields kept per entry; the count of the others is the field
   fields-dropped.  */
#define GCS_LOG_FIELDS_MAX 64

struct gcs_log_entry
{
  enum log_level level;
  const char *msg;
  const struct log_field *fields;
  size_t nfields;
};

typedef void (*gcs_log_emit_fn) (void *data, const struct gcs_log_entry *e);

struct gcs_log_parser;

struct gcs_log_parser *gcs_log_parser_new (const char *uvm_id,
                                           gcs_log_emit_fn emit, void *data);
void gcs_log_parser_feed (struct gcs_log_parser *p, const char *buf,
                          size_t len);
/* End of stream: reports what is left.  */
void gcs_log_parser_finish (struct gcs_log_parser *p);
void gcs_log_parser_free (struct gcs_log_parser *p);

#endif
