/* Route netlink (rtnetlink) requests, as the guest agent and the host's
   pod-network helper send them: a message built in a fixed buffer (a
   header, the family's own header, attributes, nested ones), sent on a
   NETLINK_ROUTE socket and answered by an acknowledgement or a dump.  The
   builders and the attribute reader are pure; rtnl_talk and rtnl_dump do
   the socket I/O (blocking: they run in the guest or in a helper process,
   never on the shim's loop).  */
#ifndef LCOW_PROTO_BASE_RTNL_H
#define LCOW_PROTO_BASE_RTNL_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enough for every request the project sends (a u32 filter with its
   mirred action is the largest, about 200 bytes).  */
#define RTNL_MSG_MAX 1024

struct rtnl_msg
{
  _Alignas(struct nlmsghdr) char buf[RTNL_MSG_MAX];
  struct nlmsghdr *h;
  /* An attribute did not fit: rtnl_talk refuses to send the message.  */
  bool overflow;
};

/* Starts a message of that type and flags (NLM_F_REQUEST is added) with a
   zeroed family header of family_len bytes, which it returns.  */
void *rtnl_start (struct rtnl_msg *m, uint16_t type, uint16_t flags,
                  size_t family_len);
void rtnl_put (struct rtnl_msg *m, uint16_t type, const void *data,
               size_t len);
void rtnl_put_u32 (struct rtnl_msg *m, uint16_t type, uint32_t value);
/* The string with its NUL.  */
void rtnl_put_str (struct rtnl_msg *m, uint16_t type, const char *s);
/* A nested attribute: rtnl_nest_end closes what rtnl_nest_begin opened.  */
struct rtattr *rtnl_nest_begin (struct rtnl_msg *m, uint16_t type);
void rtnl_nest_end (struct rtnl_msg *m, struct rtattr *nest);

/* Pure: the attributes after a message's family header of family_len
   bytes (or inside a nested attribute: rtnl_nested), by type; types
   above max are skipped.  tb has max + 1 entries, NULL where absent.  */
void rtnl_attrs (const struct nlmsghdr *h, size_t family_len,
                 const struct rtattr **tb, size_t max);
void rtnl_nested (const struct rtattr *nest, const struct rtattr **tb,
                  size_t max);
/* The attribute's payload as a string, when it is NUL-terminated.  */
const char *rtnl_str (const struct rtattr *a);

/* Sets the link up, with that MTU unless mtu is 0: 0, or -1 with errno.  */
int rtnl_link_up (int fd, int ifindex, uint32_t mtu);

/* A NETLINK_ROUTE socket, or -1 with errno.  */
int rtnl_open (void);
/* Sends m asking for an acknowledgement and waits for it: 0, or -1 with
   errno (the kernel's error).  */
int rtnl_talk (int fd, struct rtnl_msg *m);
/* Sends m as a dump request and calls fn for each message of the answer
   until its end; fn's non-zero return stops the dump (and is returned
   once the answer is read).  -1 with errno on a socket or kernel error.  */
typedef int (*rtnl_dump_fn) (void *data, const struct nlmsghdr *h);
int rtnl_dump (int fd, struct rtnl_msg *m, rtnl_dump_fn fn, void *data);

#endif
