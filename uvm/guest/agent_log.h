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
/* One entry; fields are key, value pairs ending with NULL.  */
void agent_log (enum agent_level lvl, const char *msg, ...)
    __attribute__ ((sentinel));

#endif
