/* Where a shim listens, as containerd computes it:
   unix:///run/containerd/s/<sha256(clean(address/namespace/group))>.  */
#ifndef LCOW_SHIM_ADDRESS_H
#define LCOW_SHIM_ADDRESS_H

#define SHIM_SOCKET_DIR "/run/containerd/s"

/* Go's filepath.Clean of a slash path.  */
char *path_clean (const char *path);
/* "unix:///run/containerd/s/<hash>"; caller frees.  */
char *shim_socket_address (const char *containerd_address,
                           const char *ns, const char *group_id);
/* The socket path of an address (strips "unix://").  */
const char *shim_socket_path (const char *address);

#endif
