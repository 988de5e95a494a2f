/* The runc comparison container's process: sleeps until killed.  */
#include <unistd.h>

int
main (void)
{
  for (;;)
    pause ();
}
