/* See bridge_request.h.  */
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "bridge_request.h"

enum bridge_request
bridge_request_classify (const char *body, size_t len)
{
  /* yajl_tree wants a NUL-terminated text; an embedded NUL is invalid.  */
  if (memchr (body, '\0', len) != NULL)
    return BRIDGE_REQUEST_INVALID;
  char *text = malloc (len + 1);
  if (text == NULL)
    return BRIDGE_REQUEST_INVALID;
  memcpy (text, body, len);
  text[len] = '\0';
  yajl_val root = yajl_tree_parse (text, NULL, 0);
  free (text);
  const char *type_path[] = { "type", NULL };
  yajl_val type = root && YAJL_IS_OBJECT (root)
                      ? yajl_tree_get (root, type_path, yajl_t_string)
                      : NULL;
  const char *name = type ? YAJL_GET_STRING (type) : NULL;
  enum bridge_request r = name == NULL ? BRIDGE_REQUEST_INVALID
                          : strcmp (name, "shutdown") == 0
                              ? BRIDGE_REQUEST_SHUTDOWN
                              : BRIDGE_REQUEST_UNSUPPORTED;
  yajl_tree_free (root);
  return r;
}
