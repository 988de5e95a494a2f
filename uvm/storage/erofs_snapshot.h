/* containerd's EROFS snapshotter (2.0, 2.1) keeps each committed snapshot
   as SNAPSHOTS/<id>/layer.erofs, mounts it on the host at SNAPSHOTS/<id>/fs
   and passes that directory as an overlay lowerdir; SNAPSHOTS/<id> also
   holds its mark, ".erofslayer".  Such a layer is an image already.  */
#ifndef LCOW_UVM_EROFS_SNAPSHOT_H
#define LCOW_UVM_EROFS_SNAPSHOT_H

/* The EROFS image behind lowerdir (allocated), or NULL when lowerdir is not
   the EROFS snapshotter's or its image is not EROFS.  */
char *erofs_snapshot_image (const char *lowerdir);

#endif
