/* The shim log: logrus text-format lines (time=... level=... msg=... k=v),
   the format containerd's own log uses, written to one fd without ever
   blocking.  Lines that do not fit the fd are kept in a bounded backlog and
   dropped (and counted) beyond it.  */
#ifndef LCOW_LOG_H
#define LCOW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level
{
  LOG_LEVEL_ERROR = 0,
  LOG_LEVEL_WARN,
  LOG_LEVEL_INFO,
  LOG_LEVEL_DEBUG,
  LOG_LEVEL_TRACE,
};

struct log_field
{
  const char *key;
  const char *value;
};

/* Takes ownership of fd (made non-blocking); -1 discards output.  */
void log_set_fd (int fd);
void log_set_level (enum log_level level);
enum log_level log_get_level (void);
/* Adds key=value to every following line (copied).  */
void log_add_context (const char *key, const char *value);
/* Parses a logrus level name (case-insensitive); returns -1 if unknown.  */
int log_level_parse (const char *name, enum log_level *out);
const char *log_level_name (enum log_level level);

/* Bytes a key may hold in a line (logrus's unquoted set); log_entry
   writes any other byte of a key as '_'.  */
bool log_key_byte_ok (char c);

void log_entry (enum log_level level, const char *msg,
                const struct log_field *fields, size_t nfields);
void log_printf (enum log_level level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Writes as much of the backlog as the fd takes; returns bytes still
   pending.  */
size_t log_flush (void);
int log_fd (void);
uint64_t log_dropped_lines (void);
/* Closes the fd and frees everything.  */
void log_close (void);

#define log_error(...) log_printf (LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_printf (LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_printf (LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_printf (LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
