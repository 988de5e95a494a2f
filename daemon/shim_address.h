/* Where a shim listens, as containerd computes it:
   unix://<socket dir>/<sha256(clean(address/namespace/group))>.  */
#ifndef LCOW_SHIM_ADDRESS_H
#define LCOW_SHIM_ADDRESS_H

/* Where containerd's own shims listen.  */
#define SHIM_SOCKET_DIR_DEFAULT "/run/containerd/s"
/* Overrides the socket directory (for a private containerd, as the tests
   run; containerd passes its environment to every shim action).  */
#define SHIM_SOCKET_DIR_ENV "CONTAINERD_SHIM_LCOW_SOCKET_DIR"

/* $CONTAINERD_SHIM_LCOW_SOCKET_DIR when it is an absolute path, else
   /run/containerd/s.  */
const char *shim_socket_dir (void);

/* Go's filepath.Clean of a slash path.  */
char *path_clean (const char *path);
/* "unix://<socket dir>/<hash>"; caller frees.  */
char *shim_socket_address (const char *containerd_address, const char *ns,
                           const char *group_id);
/* The same in another socket directory (another containerd's).  */
char *shim_socket_address_in (const char *socket_dir,
                              const char *containerd_address, const char *ns,
                              const char *group_id);
/* The socket path of an address (strips "unix://").  */
const char *shim_socket_path (const char *address);

#endif
