#include "namespace_policy.h"

#include <string.h>

void
namespace_policy_check (const struct oci_spec *spec, const char *pod_pid_ns,
                        struct policy_problems *problems)
{
  bool pid = false;
  for (size_t i = 0; i < spec->nnamespaces; i++)
    {
      const struct oci_namespace *ns = &spec->namespaces[i];
      const char *type = ns->type ? ns->type : "";
      if (strcmp (type, "pid") == 0)
        {
          pid = true;
          if (ns->path == NULL)
            ;
          else if (pod_pid_ns == NULL)
            policy_problem_add (problems,
                                "linux.namespaces[%zu]: pid namespace %s "
                                "cannot be joined: the container is in no pod",
                                i, ns->path);
          else if (strcmp (ns->path, pod_pid_ns) != 0)
            policy_problem_add (problems,
                                "linux.namespaces[%zu]: pid namespace %s is "
                                "not the pod's (%s), the only one a "
                                "container may join",
                                i, ns->path, pod_pid_ns);
        }
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
      else if (strcmp (type, "network") != 0 && strcmp (type, "mount") != 0
               && strcmp (type, "ipc") != 0 && strcmp (type, "uts") != 0
               && strcmp (type, "cgroup") != 0)
        policy_problem_add (
            problems, "linux.namespaces[%zu]: unknown type \"%s\"", i, type);
    }
  if (!pid)
    policy_problem_add (problems,
                        "linux.namespaces: no pid namespace (the container "
                        "would share the guest agent's and could signal it)");
}
