/* Scope-bound cleanup for locals (GCC/Clang cleanup attribute).  Ownership
   leaves a local by assigning it elsewhere and setting the local to NULL/-1.
 */
#ifndef LCOW_CLEANUP_H
#define LCOW_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
cleanup_free_fn (void *p)
{
  free (*(void **) p);
}

static inline void
cleanup_close_fn (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

static inline void
cleanup_file_fn (FILE **f)
{
  if (*f != NULL)
    fclose (*f);
}

#define cleanup_free __attribute__ ((cleanup (cleanup_free_fn)))
#define cleanup_close __attribute__ ((cleanup (cleanup_close_fn)))
#define cleanup_file __attribute__ ((cleanup (cleanup_file_fn)))

/* Hand a local's value to the caller and disarm its cleanup.  */
#define steal_pointer(pp)                                                     \
  ({                                                                          \
    __typeof__ (*(pp)) stolen_ = *(pp);                                       \
    *(pp) = NULL;                                                             \
    stolen_;                                                                  \
  })

#define steal_fd(pfd)                                                         \
  ({                                                                          \
    int stolen_fd_ = *(pfd);                                                  \
    *(pfd) = -1;                                                              \
    stolen_fd_;                                                               \
  })

#endif
