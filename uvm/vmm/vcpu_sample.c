#include "vcpu_sample.h"

#include <stdlib.h>
#include <string.h>

/* The hex value after key in line (which ends at end), or -1.  */
static int
hex_after (const char *line, const char *end, const char *key, uint64_t *out)
{
  size_t klen = strlen (key);
  for (const char *p = line; p + klen <= end; p++)
    if (memcmp (p, key, klen) == 0 && (p == line || p[-1] == ' '))
      {
        char *stop;
        *out = strtoull (p + klen, &stop, 16);
        return stop > p + klen ? 0 : -1;
      }
  return -1;
}

int
vcpu_sample_parse (const char *text, struct vcpu_sample *out)
{
  memset (out, 0, sizeof *out);
  int cpu = -1;
  bool have_ip = false;
  for (const char *line = text; *line;)
    {
      const char *end = strchr (line, '\n');
      if (end == NULL)
        end = line + strlen (line);
      uint64_t ip, hlt;
      if (strncmp (line, "CPU#", 4) == 0)
        {
          if (cpu >= 0 && !have_ip)
            return -1;
          cpu = out->ncpus < VCPU_SAMPLE_MAX ? (int) out->ncpus++ : -2;
          have_ip = false;
        }
      else if (cpu >= 0
               && (hex_after (line, end, "RIP=", &ip) == 0
                   || hex_after (line, end, "EIP=", &ip) == 0))
        {
          if (hex_after (line, end, "HLT=", &hlt) < 0)
            return -1;
          out->ip[cpu] = ip;
          out->halted[cpu] = hlt != 0;
          have_ip = true;
        }
      line = *end ? end + 1 : end;
    }
  return out->ncpus > 0 && (cpu < 0 || have_ip) ? 0 : -1;
}

bool
vcpu_sample_stuck (const struct vcpu_sample *before,
                   const struct vcpu_sample *after)
{
  if (before->ncpus == 0 || before->ncpus != after->ncpus)
    return false;
  bool spinning = false;
  for (unsigned i = 0; i < after->ncpus; i++)
    {
      if (after->halted[i])
        continue;
      if (before->halted[i] || before->ip[i] != after->ip[i])
        return false;
      spinning = true;
    }
  return spinning;
}
