/* The records a live migration moves containers with
   (daemon/migration_containers.h): the Export answer read back as the
   destination's Import takes it, the checks of what a source may send,
   the adoption claims, and the process digest that ties an adoption to
   the source's process.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/migration_containers.h"
#include "proto/base/xalloc.h"
#include "proto/oci_spec.h"
#include "suites.h"

#define HEX64                                                                 \
  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
add_container (struct migrating_set *set, const char *id, uint32_t key,
               size_t nlayers)
{
  set->items = realloc (set->items, (set->n + 1) * sizeof *set->items);
  struct migrating_container *c = &set->items[set->n++];
  memset (c, 0, sizeof *c);
  c->id = xstrdup (id);
  c->guest_id = xasprintf ("guest-%s", id);
  c->key = key;
  c->pid = 100 + key;
  c->terminal = key % 2;
  memcpy (c->process_digest, HEX64, 65);
  c->process_digest[0] = (char) ('a' + key % 6);
  c->nlayers = nlayers;
  c->layers = xzalloc ((nlayers + 1) * sizeof *c->layers);
  for (size_t i = 0; i < nlayers; i++)
    {
      c->layers[i].target = (uint32_t) (key * 10 + i);
      snprintf (c->layers[i].digest, sizeof c->layers[i].digest, "sha256:%s",
                HEX64);
      c->layers[i].digest[7] = (char) ('0' + i % 10);
    }
}

/* The set as the Export answer, packed and read back.  */
static Pb__ExportResponse *
through_the_wire (const struct migrating_set *set)
{
  Pb__ExportResponse resp = PB__EXPORT_RESPONSE__INIT;
  migrating_set_to_pb (set, &resp);
  size_t len = pb__export_response__get_packed_size (&resp);
  uint8_t *buf = xmalloc (len + 1);
  pb__export_response__pack (&resp, buf);
  migrating_set_pb_free (&resp);
  Pb__ExportResponse *back = pb__export_response__unpack (NULL, len, buf);
  free (buf);
  ck_assert_ptr_nonnull (back);
  return back;
}

START_TEST (records_round_trip)
{
  struct migrating_set src = { .next_process_key = 9 };
  add_container (&src, "printer", 3, 2);
  add_container (&src, "counter", 4, 1);
  Pb__ExportResponse *wire = through_the_wire (&src);
  struct migrating_set dst;
  shim_error *err = NULL;
  ck_assert_int_eq (migrating_set_from_pb (wire->containers,
                                           wire->n_containers,
                                           wire->next_process_key, &dst, &err),
                    0);
  ck_assert_uint_eq (dst.n, 2);
  ck_assert_uint_eq (dst.next_process_key, 9);
  for (size_t i = 0; i < 2; i++)
    {
      const struct migrating_container *a = &src.items[i], *b = &dst.items[i];
      ck_assert_str_eq (a->id, b->id);
      ck_assert_str_eq (a->guest_id, b->guest_id);
      ck_assert_uint_eq (a->key, b->key);
      ck_assert_uint_eq (a->pid, b->pid);
      ck_assert (a->terminal == b->terminal);
      ck_assert_str_eq (a->process_digest, b->process_digest);
      ck_assert_uint_eq (a->nlayers, b->nlayers);
      for (size_t j = 0; j < a->nlayers; j++)
        {
          ck_assert_uint_eq (a->layers[j].target, b->layers[j].target);
          ck_assert_str_eq (a->layers[j].digest, b->layers[j].digest);
        }
      ck_assert_ptr_null (b->adopted_by);
    }
  pb__export_response__free_unpacked (wire, NULL);
  migrating_set_release (&src);
  migrating_set_release (&dst);
}
END_TEST

/* Every problem of a hostile or broken source is named at once.  */
START_TEST (bad_sources_are_named)
{
  struct migrating_set src = { .next_process_key = 5 };
  add_container (&src, "a", 3, 1);
  add_container (&src, "a", 3, 1);    /* the same id and key again */
  add_container (&src, "late", 7, 1); /* a key the guest never gave out */
  add_container (&src, "bare", 4, 0); /* no layer */
  add_container (&src, "far", 2, 1);
  src.items[4].layers[0].target = 300;
  memcpy (src.items[4].process_digest, "not hex", 8);
  Pb__ExportResponse *wire = through_the_wire (&src);
  struct migrating_set dst;
  shim_error *err = NULL;
  ck_assert_int_eq (migrating_set_from_pb (wire->containers,
                                           wire->n_containers, 5, &dst, &err),
                    -1);
  ck_assert_int_eq (err->code, GRPC_INVALID_ARGUMENT);
  static const char *const named[] = {
    "container a: listed twice",
    "container a: process key 3 taken by a",
    "container late: process key 7 is not below the next key 5",
    "container bare: 0 layers",
    "container far: layer 0 at SCSI target 300",
    "container far: the process digest is not 64 hex digits",
  };
  for (size_t i = 0; i < sizeof named / sizeof *named; i++)
    ck_assert_msg (strstr (err->msg, named[i]) != NULL, "%s: not in %s",
                   named[i], err->msg);
  ck_assert_uint_eq (dst.n, 0);
  shim_error_free (err);
  pb__export_response__free_unpacked (wire, NULL);
  migrating_set_release (&src);
}
END_TEST

START_TEST (too_many_containers)
{
  struct migrating_set dst;
  shim_error *err = NULL;
  Pb__Container *none[1] = { NULL };
  ck_assert_int_eq (migrating_set_from_pb (none, MIGRATION_CONTAINERS_MAX + 1,
                                           1, &dst, &err),
                    -1);
  ck_assert (strstr (err->msg, "at most 256") != NULL);
  shim_error_free (err);
}
END_TEST

START_TEST (claims)
{
  struct migrating_set set = { .next_process_key = 9 };
  add_container (&set, "printer", 3, 1);
  add_container (&set, "counter", 4, 1);
  shim_error *err = NULL;
  ck_assert_ptr_null (migrating_set_claim (&set, "nobody", "t0", HEX64, &err));
  ck_assert (strstr (err->msg, "no source container nobody") != NULL);
  shim_error_free (err);
  err = NULL;
  ck_assert_ptr_null (
      migrating_set_claim (&set, "printer", "t1", HEX64, &err));
  ck_assert_int_eq (err->code, GRPC_FAILED_PRECONDITION);
  ck_assert (strstr (err->msg, "the process differs") != NULL);
  shim_error_free (err);
  err = NULL;
  struct migrating_container *c = migrating_set_claim (
      &set, "printer", "t1", set.items[0].process_digest, &err);
  ck_assert_ptr_eq (c, &set.items[0]);
  ck_assert_str_eq (c->adopted_by, "t1");
  ck_assert_ptr_null (migrating_set_claim (&set, "printer", "t2",
                                           set.items[0].process_digest, &err));
  ck_assert (strstr (err->msg, "adopted by t1 already") != NULL);
  shim_error_free (err);
  err = NULL;
  ck_assert_int_eq (migrating_set_all_adopted (&set, &err), -1);
  ck_assert (strstr (err->msg, "source container counter is not adopted")
             != NULL);
  ck_assert (strstr (err->msg, "printer") == NULL);
  shim_error_free (err);
  err = NULL;
  migrating_set_unclaim (&set, "t1");
  ck_assert_ptr_null (set.items[0].adopted_by);
  ck_assert_ptr_nonnull (migrating_set_claim (
      &set, "printer", "t3", set.items[0].process_digest, &err));
  ck_assert_ptr_nonnull (migrating_set_claim (
      &set, "counter", "t4", set.items[1].process_digest, &err));
  ck_assert_int_eq (migrating_set_all_adopted (&set, &err), 0);
  /* Unclaimed by the very string the set holds (as the daemon forgets a
     failed claim): the later claim stays, nothing freed is read.  */
  migrating_set_unclaim (&set, set.items[0].adopted_by);
  ck_assert_ptr_null (set.items[0].adopted_by);
  ck_assert_str_eq (set.items[1].adopted_by, "t4");
  migrating_set_release (&set);
}
END_TEST

static void
digest_of (char **args, size_t nargs, char **env, size_t nenv, const char *cwd,
           uint32_t uid, char out[65])
{
  struct oci_process p = { .args = args,
                           .nargs = nargs,
                           .env = env,
                           .nenv = nenv,
                           .cwd = (char *) cwd,
                           .uid = uid };
  migration_process_digest (&p, out);
}

START_TEST (process_digest)
{
  char *sh[] = { "/bin/sh", "-c", "echo a" };
  char *sh_split[] = { "/bin/sh", "-c", "echo", "a" };
  char *env[] = { "PATH=/bin" };
  char *env2[] = { "PATH=/usr/bin" };
  char base[65], same[65], other[65];
  digest_of (sh, 3, env, 1, "/", 0, base);
  digest_of (sh, 3, env, 1, "/", 0, same);
  ck_assert_str_eq (base, same);
  ck_assert_uint_eq (strlen (base), 64);
  digest_of (sh_split, 4, env, 1, "/", 0, other);
  ck_assert_str_ne (base, other);
  digest_of (sh, 3, env2, 1, "/", 0, other);
  ck_assert_str_ne (base, other);
  digest_of (sh, 3, env, 1, "/tmp", 0, other);
  ck_assert_str_ne (base, other);
  digest_of (sh, 3, env, 1, "/", 1000, other);
  ck_assert_str_ne (base, other);
  /* An argument moved into the environment is another process.  */
  char *args1[] = { "x" };
  char *env_x[] = { "x" };
  digest_of (args1, 1, NULL, 0, "/", 0, base);
  digest_of (NULL, 0, env_x, 1, "/", 0, other);
  ck_assert_str_ne (base, other);
}
END_TEST

Suite *
migration_containers_suite (void)
{
  Suite *s = suite_create ("migration_containers");
  TCase *tc = tcase_create ("records");
  tcase_add_test (tc, records_round_trip);
  tcase_add_test (tc, bad_sources_are_named);
  tcase_add_test (tc, too_many_containers);
  tcase_add_test (tc, claims);
  tcase_add_test (tc, process_digest);
  suite_add_tcase (s, tc);
  return s;
}
