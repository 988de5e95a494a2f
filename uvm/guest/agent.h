/* The guest agent's bridge loop (uvm/guest/PROTOCOL.md): host requests,
   the containers and processes they create, the processes' standard
   streams under credit-based flow control, and their exits.  One thread,
   poll(2); writes to the bridge are whole frames.  */
#ifndef LCOW_GUEST_AGENT_H
#define LCOW_GUEST_AGENT_H

/* Serves the bridge on fd until the host asks for a shutdown (returns 0)
   or goes away (returns 1).  */
int agent_serve (int fd);

#endif
