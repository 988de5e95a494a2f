/* The guest agent's bridge loop (uvm/guest/PROTOCOL.md): host requests,
   the containers and processes they create, the processes' standard
   streams under credit-based flow control, and their exits.  One thread,
   poll(2); writes to the bridge are whole frames.  */
#ifndef LCOW_GUEST_AGENT_H
#define LCOW_GUEST_AGENT_H

#include <stdint.h>

/* Serves the bridge on fd until the host asks for a shutdown (returns 0)
   or goes away (returns 1).  */
int agent_serve (int fd);
/* The guest's CLOCK_BOOTTIME in ms: how long this guest has been up (it
   goes on across a live migration, which is how a host tells it is the
   same guest).  */
uint64_t agent_uptime_ms (void);

#endif
