#include "rootfs_layers.h"

#include <stdlib.h>
#include <string.h>

#include "policy/problems.h"
#include "proto/base/xalloc.h"

static void
add_layer (struct rootfs_plan *p, const char *dir, size_t len, bool cached,
           bool skip_if_empty, bool image)
{
  /* The array doubles when full (its size a power of two from 8): a
     lowerdir of a hundred thousand entries is read in linear time.  */
  size_t n = p->nlayers;
  if (n == 0 || (n >= 8 && (n & (n - 1)) == 0))
    p->layers = xrealloc (p->layers, (n ? 2 * n : 8) * sizeof *p->layers);
  p->layers[p->nlayers++] = (struct rootfs_layer){
    .dir = xstrndup (dir, len),
    .cached = cached,
    .skip_if_empty = skip_if_empty,
    .image = image,
  };
}

/* "overlay" with any of the mount manager's steps in front of it
   ("format/mkdir/overlay": the options are templates, directories are
   made first).  */
static bool
is_overlay_type (const char *type)
{
  for (;;)
    if (strncmp (type, "format/", 7) == 0)
      type += 7;
    else if (strncmp (type, "mkdir/", 6) == 0)
      type += 6;
    else
      return strcmp (type, "overlay") == 0;
}

/* Mount i of the list before the overlay, as a layer: an erofs image.  */
static void
add_image_of (struct rootfs_plan *p, const struct rootfs_mount *mounts,
              size_t nbefore, long i, const char *tmpl, size_t tlen,
              struct policy_problems *pr)
{
  if (i < 0 || (size_t) i >= nbefore)
    policy_problem_add (pr, "lowerdir %.*s: no mount %ld before the overlay",
                        (int) tlen, tmpl, i);
  else if (strcmp (mounts[i].type, "erofs") != 0)
    policy_problem_add (pr,
                        "lowerdir %.*s: mount %ld is \"%s\", not an erofs "
                        "layer image",
                        (int) tlen, tmpl, i, mounts[i].type);
  else
    add_layer (p, mounts[i].source, strlen (mounts[i].source), true, false,
               true);
}

/* Reads "WORD N [M]" (a template's inside, spaces around), the number of
   indices read (1 or 2), or 0 when in is not that.  */
static int
parse_template (const char *in, const char *word, long idx[2])
{
  size_t wl = strlen (word);
  in += strspn (in, " ");
  if (strncmp (in, word, wl) != 0 || in[wl] != ' ')
    return 0;
  in += wl;
  int n = 0;
  for (; n < 2; n++)
    {
      in += strspn (in, " ");
      if (*in < '0' || *in > '9')
        break;
      char *end;
      idx[n] = strtol (in, &end, 10);
      if (idx[n] > ROOTFS_LAYERS_MAX * 4)
        idx[n] = -1; /* out of any list's range, reported so */
      in = end;
    }
  in += strspn (in, " ");
  return *in == '\0' ? n : 0;
}

/* One "{{ ... }}" of a lowerdir (text, len bytes with the braces).  */
static void
add_template (struct rootfs_plan *p, const struct rootfs_mount *mounts,
              size_t nbefore, const char *text, size_t len,
              struct policy_problems *pr)
{
  char in[64];
  long idx[2];
  if (len >= sizeof in)
    {
      policy_problem_add (pr, "lowerdir template %.*s... is not understood",
                          (int) (sizeof in / 2), text);
      return;
    }
  memcpy (in, text + 2, len - 4);
  in[len - 4] = '\0';
  if (parse_template (in, "mount", idx) == 1)
    add_image_of (p, mounts, nbefore, idx[0], text, len, pr);
  else if (parse_template (in, "overlay", idx) == 2)
    {
      if (idx[0] < 0 || idx[1] < 0 || (size_t) idx[0] >= nbefore
          || (size_t) idx[1] >= nbefore)
        policy_problem_add (pr,
                            "lowerdir %.*s: mounts %ld to %ld, %zu before "
                            "the overlay",
                            (int) len, text, idx[0], idx[1], nbefore);
      else
        for (long i = idx[0];; i += idx[0] <= idx[1] ? 1 : -1)
          {
            add_image_of (p, mounts, nbefore, i, text, len, pr);
            if (i == idx[1])
              break;
          }
    }
  else
    policy_problem_add (pr, "lowerdir template %.*s is not understood",
                        (int) len, text);
}

/* The overlay (the last mount), its layers top first; the nbefore mounts
   before it are the images its templates name.  */
static void
plan_overlay (const struct rootfs_mount *mounts, size_t nbefore,
              struct rootfs_plan *p, struct policy_problems *pr)
{
  const struct rootfs_mount *m = &mounts[nbefore];
  const char *lower = NULL, *upper = NULL;
  for (size_t i = 0; i < nbefore; i++)
    if (strcmp (mounts[i].type, "erofs") != 0)
      policy_problem_add (pr,
                          "mount %zu: type \"%s\" before the overlay is not "
                          "supported (only erofs layer images are)",
                          i, mounts[i].type);
  for (size_t i = 0; i < m->noptions; i++)
    if (strncmp (m->options[i], "lowerdir=", 9) == 0)
      lower = m->options[i] + 9;
    else if (strncmp (m->options[i], "upperdir=", 9) == 0)
      upper = m->options[i] + 9;
  if (lower == NULL || *lower == '\0')
    {
      policy_problem_add (pr, "an overlay mount without lowerdir");
      return;
    }
  if (upper != NULL && strstr (upper, "{{") != NULL)
    policy_problem_add (pr,
                        "upperdir %s: a writable layer inside another "
                        "mount (a disk image, the EROFS snapshotter's block "
                        "mode) is not supported",
                        upper);
  else if (upper != NULL)
    add_layer (p, upper, strlen (upper), false, true, false);
  for (const char *s = lower;;)
    {
      const char *end;
      if (strncmp (s, "{{", 2) == 0 && (end = strstr (s, "}}")) != NULL)
        {
          end += 2;
          add_template (p, mounts, nbefore, s, (size_t) (end - s), pr);
        }
      else
        {
          end = strchr (s, ':');
          if (end == NULL)
            end = s + strlen (s);
          add_layer (p, s, (size_t) (end - s), true, false, false);
        }
      if (*end == '\0')
        break;
      if (*end != ':')
        {
          policy_problem_add (pr, "lowerdir %s: \"%s\" after a template",
                              lower, end);
          break;
        }
      s = end + 1;
    }
}

int
rootfs_layers_plan (const struct rootfs_mount *mounts, size_t nmounts,
                    const char *rootfs_dir, struct rootfs_plan *out,
                    shim_error **err)
{
  *out = (struct rootfs_plan){ 0 };
  struct policy_problems pr = { STRBUF_INIT, 0 };
  const struct rootfs_mount *last = nmounts ? &mounts[nmounts - 1] : NULL;
  if (nmounts == 0)
    add_layer (out, rootfs_dir, strlen (rootfs_dir), false, false, false);
  else if (is_overlay_type (last->type))
    plan_overlay (mounts, nmounts - 1, out, &pr);
  else if (nmounts == 1 && strcmp (last->type, "erofs") == 0)
    add_layer (out, last->source, strlen (last->source), true, false, true);
  else if (nmounts == 1 && strcmp (last->type, "bind") == 0
           && last->source[0] == '/')
    add_layer (out, last->source, strlen (last->source), false, false, false);
  else
    {
      for (size_t i = 0; i < nmounts; i++)
        if (strchr (mounts[i].type, '/') != NULL)
          policy_problem_add (&pr,
                              "mount %zu: type \"%s\" is not supported (a "
                              "step of containerd's mount manager the shim "
                              "does not perform)",
                              i, mounts[i].type);
      out->mount_first = true;
      add_layer (out, rootfs_dir, strlen (rootfs_dir), false, false, false);
    }
  for (size_t i = 0; i < out->nlayers; i++)
    if (out->layers[i].dir[0] != '/')
      policy_problem_add (&pr, "layer \"%s\" is not an absolute path",
                          out->layers[i].dir);
  if (out->nlayers > ROOTFS_LAYERS_MAX)
    policy_problem_add (&pr,
                        "%zu layers, more than the %d a container may "
                        "have",
                        out->nlayers, ROOTFS_LAYERS_MAX);
  if (policy_problems_to_error (&pr, "rootfs", err) < 0)
    {
      rootfs_plan_release (out);
      return -1;
    }
  return 0;
}

void
rootfs_plan_release (struct rootfs_plan *p)
{
  for (size_t i = 0; i < p->nlayers; i++)
    free (p->layers[i].dir);
  free (p->layers);
  *p = (struct rootfs_plan){ 0 };
}
