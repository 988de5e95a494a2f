/* See device_filter.h.  */
#include "device_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/base/file_io.h"
#include "proto/base/xalloc.h"

#define ALL_RIGHTS (DEVICE_MKNOD | DEVICE_READ | DEVICE_WRITE)

/* The nodes every container has, allowed as runc allows them.  */
static const struct device_rule default_rules[] = {
  { true, 'c', -1, -1, DEVICE_MKNOD }, { true, 'b', -1, -1, DEVICE_MKNOD },
  { true, 'c', 1, 3, ALL_RIGHTS },     { true, 'c', 1, 8, ALL_RIGHTS },
  { true, 'c', 1, 7, ALL_RIGHTS },     { true, 'c', 5, 0, ALL_RIGHTS },
  { true, 'c', 1, 5, ALL_RIGHTS },     { true, 'c', 1, 9, ALL_RIGHTS },
  { true, 'c', 136, -1, ALL_RIGHTS },  { true, 'c', 5, 2, ALL_RIGHTS },
  { true, 'c', 10, 200, ALL_RIGHTS },
};
#define NDEFAULT (sizeof default_rules / sizeof default_rules[0])

/* "rwm" and any part of it; 0 for anything else.  */
static unsigned
parse_access (const char *s)
{
  if (s == NULL || *s == '\0')
    return ALL_RIGHTS;
  unsigned bits = 0;
  for (; *s; s++)
    switch (*s)
      {
      case 'r':
        bits |= DEVICE_READ;
        break;
      case 'w':
        bits |= DEVICE_WRITE;
        break;
      case 'm':
        bits |= DEVICE_MKNOD;
        break;
      default:
        return 0;
      }
  return bits;
}

int
device_rules_from_spec (const struct oci_spec *s, struct device_rule **out,
                        size_t *n, strbuf *bad)
{
  size_t total = s->ndevice_rules + NDEFAULT + s->nlinux_devices;
  if (s->ndevice_rules + s->nlinux_devices > DEVICE_RULES_MAX)
    strbuf_list_printf (
        bad, "%zu device rules and devices, more than the %d allowed",
        s->ndevice_rules + s->nlinux_devices, DEVICE_RULES_MAX);
  struct device_rule *rules = xzalloc ((total + 1) * sizeof *rules);
  size_t k = 0;
  for (size_t i = 0; i < s->ndevice_rules; i++)
    {
      const struct oci_device_rule *d = &s->device_rules[i];
      const char *type = d->type ? d->type : "a";
      unsigned access = parse_access (d->access);
      if (strlen (type) != 1 || strchr ("abc", type[0]) == NULL)
        strbuf_list_printf (
            bad, "linux.resources.devices[%zu]: type \"%s\" is not a, b or c",
            i, type);
      if (access == 0)
        strbuf_list_printf (
            bad,
            "linux.resources.devices[%zu]: access \"%s\" is not "
            "made of r, w and m",
            i, d->access);
      rules[k++] = (struct device_rule){ d->allow, type[0], d->major, d->minor,
                                         access };
    }
  memcpy (&rules[k], default_rules, sizeof default_rules);
  k += NDEFAULT;
  for (size_t i = 0; i < s->nlinux_devices; i++)
    {
      const struct oci_linux_device *d = &s->linux_devices[i];
      const char *type = d->type ? d->type : "";
      if (d->path == NULL || d->path[0] != '/' || !path_is_plain (d->path + 1))
        strbuf_list_printf (
            bad,
            "linux.devices[%zu]: path \"%s\" is not absolute, or has an "
            "empty, \".\" or \"..\" component",
            i, d->path ? d->path : "");
      if (strlen (type) != 1 || strchr ("cbup", type[0]) == NULL)
        strbuf_list_printf (
            bad, "linux.devices[%zu]: type \"%s\" is not c, b, u or p", i,
            type);
      else if (type[0] != 'p')
        rules[k++] = (struct device_rule){ true, type[0] == 'b' ? 'b' : 'c',
                                           d->major, d->minor, ALL_RIGHTS };
    }
  if (bad->len)
    {
      free (rules);
      return -1;
    }
  *out = rules;
  *n = k;
  return 0;
}

static struct bpf_insn
insn (uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
  return (struct bpf_insn){
    .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm
  };
}

/* Registers: r2 the node's type, r3 the rights asked, r4 major, r5 minor
   (struct bpf_cgroup_dev_ctx at r1: access_type = rights << 16 | type,
   major, minor).  */
enum
{
  R0,
  R1,
  R2,
  R3,
  R4,
  R5
};

/* The offset of a jump at `at` to `target`.  */
static int16_t
jump (size_t target, size_t at)
{
  return (int16_t) (target - (at + 1));
}

/* A number that fits no device (majors have 12 bits, minors 20): a rule
   that names one never matches.  */
static bool
impossible (int64_t v)
{
  return v > INT32_MAX;
}

size_t
device_filter_build (const struct device_rule *rules, size_t n,
                     struct bpf_insn *out)
{
  size_t at = 0;
  out[at++] = insn (BPF_LDX | BPF_MEM | BPF_W, R2, R1, 0, 0);
  out[at++] = insn (BPF_ALU64 | BPF_AND | BPF_K, R2, 0, 0, 0xffff);
  out[at++] = insn (BPF_LDX | BPF_MEM | BPF_W, R3, R1, 0, 0);
  out[at++] = insn (BPF_ALU64 | BPF_RSH | BPF_K, R3, 0, 0, 16);
  out[at++] = insn (BPF_LDX | BPF_MEM | BPF_W, R4, R1, 4, 0);
  out[at++] = insn (BPF_LDX | BPF_MEM | BPF_W, R5, R1, 8, 0);
  /* The last rule first: the first match is the decision.  */
  for (size_t i = n; i-- > 0;)
    {
      const struct device_rule *r = &rules[i];
      if (impossible (r->major) || impossible (r->minor) || r->access == 0)
        continue;
      bool some_rights = (r->access & ALL_RIGHTS) != ALL_RIGHTS;
      size_t len = 2 + (r->type != 'a') + (some_rights ? 3 : 0)
                   + (r->major >= 0) + (r->minor >= 0);
      size_t next = at + len;
      if (r->type != 'a')
        {
          int32_t t
              = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
          out[at]
              = insn (BPF_JMP | BPF_JNE | BPF_K, R2, 0, jump (next, at), t);
          at++;
        }
      if (some_rights)
        {
          out[at++] = insn (BPF_ALU64 | BPF_MOV | BPF_X, R1, R3, 0, 0);
          out[at++] = insn (BPF_ALU64 | BPF_AND | BPF_K, R1, 0, 0,
                            (int32_t) r->access);
          /* allow: every right asked is granted; deny: some right asked
             is denied.  */
          out[at] = r->allow ? insn (BPF_JMP | BPF_JNE | BPF_X, R1, R3,
                                     jump (next, at), 0)
                             : insn (BPF_JMP | BPF_JEQ | BPF_K, R1, 0,
                                     jump (next, at), 0);
          at++;
        }
      if (r->major >= 0)
        {
          out[at] = insn (BPF_JMP | BPF_JNE | BPF_K, R4, 0, jump (next, at),
                          (int32_t) r->major);
          at++;
        }
      if (r->minor >= 0)
        {
          out[at] = insn (BPF_JMP | BPF_JNE | BPF_K, R5, 0, jump (next, at),
                          (int32_t) r->minor);
          at++;
        }
      out[at++] = insn (BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, r->allow);
      out[at++] = insn (BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
      /* A rule that matches everything decides for the earlier ones (the
         verifier refuses code it cannot reach).  */
      if (len == 2)
        return at;
    }
  out[at++] = insn (BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 0);
  out[at++] = insn (BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return at;
}

static long
bpf (int cmd, union bpf_attr *attr)
{
  return syscall (SYS_bpf, cmd, attr, sizeof *attr);
}

int
device_filter_attach (const char *cgroup, const struct bpf_insn *insns,
                      size_t n)
{
  static const char license[] = "Apache-2.0";
  union bpf_attr load;
  memset (&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t) (uintptr_t) insns;
  load.insn_cnt = (uint32_t) n;
  load.license = (uint64_t) (uintptr_t) license;
  int prog = (int) bpf (BPF_PROG_LOAD, &load);
  if (prog < 0)
    return -1;
  int dir = open (cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = -1;
  if (dir >= 0)
    {
      union bpf_attr attach;
      memset (&attach, 0, sizeof attach);
      attach.target_fd = (uint32_t) dir;
      attach.attach_bpf_fd = (uint32_t) prog;
      attach.attach_type = BPF_CGROUP_DEVICE;
      r = (int) bpf (BPF_PROG_ATTACH, &attach);
    }
  int saved = errno;
  if (dir >= 0)
    close (dir);
  close (prog);
  errno = saved;
  return r;
}
