#ifndef LCOW_TEST_SUITES_H
#define LCOW_TEST_SUITES_H

#include <check.h>
#include <stddef.h>

Suite *kernel_cmdline_suite (void);

static Suite *(*const unit_suites[]) (void) = {
  kernel_cmdline_suite,
  NULL,
};

#endif
