#include "namespace_policy.h"

#include <stdbool.h>
#include <string.h>

/* A path naming the pod's namespace of that type.  */
static bool
is_pod_namespace (const char *path, const char *pod_ns_dir, const char *type)
{
  size_t n = pod_ns_dir ? strlen (pod_ns_dir) : 0;
  return pod_ns_dir != NULL && strncmp (path, pod_ns_dir, n) == 0
         && path[n] == '/' && strcmp (path + n + 1, type) == 0;
}

/* No IPC namespace in a spec is the node's (runc shares it): the guest
   has only the UVM's to give, which would pass for it silently.  */
static void
check_ipc_namespace (const struct oci_spec *spec,
                     struct policy_problems *problems)
{
  if (oci_spec_namespace (spec, "ipc") == NULL)
    policy_problem_add (problems,
                        "linux.namespaces: no ipc namespace: the node's IPC "
                        "namespace (hostIPC) cannot be given inside a VM; "
                        "run the pod with the node's runtime");
}

void
namespace_policy_check_pod (const struct oci_spec *spec,
                            struct policy_problems *problems)
{
  check_ipc_namespace (spec, problems);
  /* No network namespace is the node's network (CRI's hostNetwork): the
     guest has its own stack, the node's interfaces and ports are not in
     it.  */
  if (oci_spec_namespace (spec, "network") == NULL)
    policy_problem_add (problems,
                        "linux.namespaces: no network namespace: the node's "
                        "network (hostNetwork) cannot be given inside a VM, "
                        "whose guest has its own network stack; run the pod "
                        "with the node's runtime");
}

void
namespace_policy_check (const struct oci_spec *spec, const char *pod_ns_dir,
                        struct policy_problems *problems)
{
  bool pid = false;
  for (size_t i = 0; i < spec->nnamespaces; i++)
    {
      const struct oci_namespace *ns = &spec->namespaces[i];
      const char *type = ns->type ? ns->type : "";
      bool shareable = strcmp (type, "pid") == 0 || strcmp (type, "uts") == 0
                       || strcmp (type, "ipc") == 0;
      pid |= strcmp (type, "pid") == 0;
      if (shareable && ns->path != NULL && pod_ns_dir == NULL)
        policy_problem_add (problems,
                            "linux.namespaces[%zu]: %s namespace %s cannot "
                            "be joined: the container is in no pod",
                            i, type, ns->path);
      else if (shareable && ns->path != NULL
               && !is_pod_namespace (ns->path, pod_ns_dir, type))
        policy_problem_add (problems,
                            "linux.namespaces[%zu]: %s namespace %s is not "
                            "the pod's (%s/%s), the only one a container may "
                            "join",
                            i, type, ns->path, pod_ns_dir, type);
      else if ((strcmp (type, "mount") == 0 || strcmp (type, "cgroup") == 0)
               && ns->path != NULL)
        policy_problem_add (problems,
                            "linux.namespaces[%zu]: joining a %s namespace "
                            "(%s) is not supported: each container has its "
                            "own",
                            i, type, ns->path);
      else if (strcmp (type, "user") == 0)
        policy_problem_add (problems,
                            "linux.namespaces[%zu]: user namespaces are not "
                            "supported (the guest agent applies no ID "
                            "mappings)",
                            i);
      else if (strcmp (type, "time") == 0)
        policy_problem_add (problems,
                            "linux.namespaces[%zu]: time namespaces are not "
                            "supported by the guest agent",
                            i);
      else if (!shareable && strcmp (type, "network") != 0
               && strcmp (type, "mount") != 0 && strcmp (type, "cgroup") != 0)
        policy_problem_add (
            problems, "linux.namespaces[%zu]: unknown type \"%s\"", i, type);
    }
  if (!pid)
    policy_problem_add (problems,
                        "linux.namespaces: no pid namespace (the container "
                        "would share the guest agent's and could signal it)");
  check_ipc_namespace (spec, problems);
}
