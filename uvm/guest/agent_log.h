/* The guest agent's log: logrus entries (text, or JSON with -log-format
   json) on stderr, one bounded line each.  */
#ifndef LCOW_GUEST_AGENT_LOG_H
#define LCOW_GUEST_AGENT_LOG_H

#include <stdbool.h>

enum agent_level
{
  L_TRACE,
  L_DEBUG,
  L_INFO,
  L_WARN,
  L_ERROR,
  L_FATAL,
  L_PANIC
};

/* Returns 0, or -1 for a level logrus does not know.  */
int agent_log_parse_level (const char *s, enum agent_level *out);
void agent_log_setup (enum agent_level min, bool json);
/* One entry; fields are key, value pairs ending with a null pointer, which
   agent_log adds (a bare NULL may be an int in a variadic call).  */
void agent_log_fields (enum agent_level lvl, const char *msg, ...)
    __attribute__ ((sentinel));
#define agent_log(lvl, ...)                                                   \
  agent_log_fields (lvl, __VA_ARGS__, (const char *) NULL)

#endif
