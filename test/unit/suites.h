#ifndef LCOW_TEST_SUITES_H
#define LCOW_TEST_SUITES_H

#include <check.h>
#include <stddef.h>

Suite *kernel_cmdline_suite (void);
Suite *ttrpc_suite (void);
Suite *policy_suite (void);
Suite *options_suite (void);
Suite *parsers_suite (void);
Suite *vsock_suite (void);
Suite *vmm_argv_suite (void);
Suite *bridge_suite (void);
Suite *bridge_conn_suite (void);
Suite *qmp_suite (void);
Suite *accel_suite (void);
Suite *vcpu_sample_suite (void);
Suite *uvm_lifecycle_suite (void);
Suite *sandbox_lifecycle_suite (void);
Suite *migration_state_suite (void);
Suite *task_status_suite (void);
Suite *capabilities_suite (void);
Suite *sysctl_suite (void);
Suite *confinement_suite (void);
Suite *migration_containers_suite (void);
Suite *migration_channel_suite (void);
Suite *port_steer_suite (void);

static Suite *(*const unit_suites[]) (void) = {
  kernel_cmdline_suite,
  ttrpc_suite,
  policy_suite,
  options_suite,
  parsers_suite,
  vsock_suite,
  vmm_argv_suite,
  bridge_suite,
  bridge_conn_suite,
  qmp_suite,
  accel_suite,
  vcpu_sample_suite,
  uvm_lifecycle_suite,
  sandbox_lifecycle_suite,
  migration_state_suite,
  task_status_suite,
  capabilities_suite,
  sysctl_suite,
  confinement_suite,
  migration_containers_suite,
  migration_channel_suite,
  port_steer_suite,
  NULL,
};

#endif
