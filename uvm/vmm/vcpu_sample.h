/* A guest that spins in one place: QEMU's "info registers -a" text (HMP,
   through QMP's human-monitor-command) read into each vCPU's instruction
   pointer and halt state, and two such samples compared.  Pure.  */
#ifndef LCOW_UVM_VCPU_SAMPLE_H
#define LCOW_UVM_VCPU_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#define VCPU_SAMPLE_MAX 64

struct vcpu_sample
{
  unsigned ncpus;
  uint64_t ip[VCPU_SAMPLE_MAX];
  bool halted[VCPU_SAMPLE_MAX];
};

/* 0, or -1 when the text names no vCPU or one without RIP=/EIP= and HLT=
   (vCPUs past VCPU_SAMPLE_MAX are left out).  */
int vcpu_sample_parse (const char *text, struct vcpu_sample *out);
/* The guest did not move between two samples: every vCPU is halted or at
   the same instruction, and at least one is not halted (it spins).  */
bool vcpu_sample_stuck (const struct vcpu_sample *before,
                        const struct vcpu_sample *after);

#endif
