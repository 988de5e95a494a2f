/* See rtnl.h.  */
#include "rtnl.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The answer to a dump arrives in datagrams of at most a page or two; this
   takes the largest the kernel sends by default (32 KiB).  */
#define RTNL_RECV_MAX 32768

void *
rtnl_start (struct rtnl_msg *m, uint16_t type, uint16_t flags,
            size_t family_len)
{
  memset (m->buf, 0, sizeof m->buf);
  m->overflow = false;
  m->h = (struct nlmsghdr *) m->buf;
  m->h->nlmsg_len = NLMSG_LENGTH (family_len);
  m->h->nlmsg_type = type;
  m->h->nlmsg_flags = flags | NLM_F_REQUEST;
  return NLMSG_DATA (m->h);
}

void
rtnl_put (struct rtnl_msg *m, uint16_t type, const void *data, size_t len)
{
  size_t at = NLMSG_ALIGN (m->h->nlmsg_len);
  if (at + RTA_SPACE (len) > sizeof m->buf)
    {
      m->overflow = true;
      return;
    }
  struct rtattr *a = (struct rtattr *) (m->buf + at);
  a->rta_type = type;
  a->rta_len = (unsigned short) RTA_LENGTH (len);
  if (len > 0)
    memcpy (RTA_DATA (a), data, len);
  m->h->nlmsg_len = (uint32_t) (at + RTA_ALIGN (a->rta_len));
}

void
rtnl_put_u32 (struct rtnl_msg *m, uint16_t type, uint32_t value)
{
  rtnl_put (m, type, &value, sizeof value);
}

void
rtnl_put_str (struct rtnl_msg *m, uint16_t type, const char *s)
{
  rtnl_put (m, type, s, strlen (s) + 1);
}

struct rtattr *
rtnl_nest_begin (struct rtnl_msg *m, uint16_t type)
{
  size_t at = NLMSG_ALIGN (m->h->nlmsg_len);
  rtnl_put (m, type | NLA_F_NESTED, NULL, 0);
  return m->overflow ? NULL : (struct rtattr *) (m->buf + at);
}

void
rtnl_nest_end (struct rtnl_msg *m, struct rtattr *nest)
{
  if (nest != NULL)
    nest->rta_len
        = (unsigned short) (m->buf + m->h->nlmsg_len - (char *) nest);
}

static void
parse_attrs (const struct rtattr *a, size_t len, const struct rtattr **tb,
             size_t max)
{
  for (size_t i = 0; i <= max; i++)
    tb[i] = NULL;
  unsigned int left = (unsigned int) len;
  for (; RTA_OK (a, left); a = RTA_NEXT (a, left))
    {
      unsigned short type = a->rta_type & NLA_TYPE_MASK;
      if (type <= max)
        tb[type] = a;
    }
}

void
rtnl_attrs (const struct nlmsghdr *h, size_t family_len,
            const struct rtattr **tb, size_t max)
{
  size_t start = NLMSG_LENGTH (NLMSG_ALIGN (family_len));
  size_t len = h->nlmsg_len > start ? h->nlmsg_len - start : 0;
  parse_attrs ((const struct rtattr *) ((const char *) h + start), len, tb,
               max);
}

void
rtnl_nested (const struct rtattr *nest, const struct rtattr **tb, size_t max)
{
  parse_attrs ((const struct rtattr *) RTA_DATA (nest), RTA_PAYLOAD (nest), tb,
               max);
}

const char *
rtnl_str (const struct rtattr *a)
{
  size_t n = a != NULL ? RTA_PAYLOAD (a) : 0;
  const char *s = a != NULL ? RTA_DATA (a) : NULL;
  return n > 0 && memchr (s, '\0', n) != NULL ? s : NULL;
}

int
rtnl_link_up (int fd, int ifindex, uint32_t mtu)
{
  struct rtnl_msg m;
  struct ifinfomsg *i = rtnl_start (&m, RTM_NEWLINK, 0, sizeof *i);
  i->ifi_family = AF_UNSPEC;
  i->ifi_index = ifindex;
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  if (mtu != 0)
    rtnl_put_u32 (&m, IFLA_MTU, mtu);
  return rtnl_talk (fd, &m);
}

int
rtnl_open (void)
{
  return socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

static int
send_message (int fd, struct rtnl_msg *m)
{
  static uint32_t seq;
  if (m->overflow)
    {
      errno = EMSGSIZE;
      return -1;
    }
  m->h->nlmsg_seq = ++seq;
  return send (fd, m->buf, m->h->nlmsg_len, 0) < 0 ? -1 : 0;
}

/* Reads the answer to m: each message of it goes to fn (NULL: none is
   expected but the acknowledgement).  */
static int
read_answer (int fd, const struct rtnl_msg *m, rtnl_dump_fn fn, void *data)
{
  _Alignas(struct nlmsghdr) char buf[RTNL_RECV_MAX];
  int stopped = 0;
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      size_t left = (size_t) n;
      for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf;
           NLMSG_OK (h, left); h = NLMSG_NEXT (h, left))
        {
          if (h->nlmsg_seq != m->h->nlmsg_seq)
            continue;
          if (h->nlmsg_type == NLMSG_DONE)
            return stopped;
          if (h->nlmsg_type == NLMSG_ERROR)
            {
              const struct nlmsgerr *e = NLMSG_DATA (h);
              if (e->error == 0)
                return stopped;
              errno = -e->error;
              return -1;
            }
          if (fn != NULL && stopped == 0)
            stopped = fn (data, h);
        }
    }
}

int
rtnl_talk (int fd, struct rtnl_msg *m)
{
  m->h->nlmsg_flags |= NLM_F_ACK;
  if (send_message (fd, m) < 0)
    return -1;
  return read_answer (fd, m, NULL, NULL);
}

int
rtnl_dump (int fd, struct rtnl_msg *m, rtnl_dump_fn fn, void *data)
{
  m->h->nlmsg_flags |= NLM_F_DUMP;
  if (send_message (fd, m) < 0)
    return -1;
  return read_answer (fd, m, fn, data);
}
