/* The shim <-> guest agent bridge on the GCS port: frames use the ttrpc
   frame header (length, id, type, flags) with a JSON body, or raw bytes for
   the standard streams; see uvm/guest/PROTOCOL.md.  */
#ifndef LCOW_UVM_BRIDGE_PROTOCOL_H
#define LCOW_UVM_BRIDGE_PROTOCOL_H

#define BRIDGE_PROTOCOL_VERSION 2
/* Largest bridge message either side accepts.  */
#define BRIDGE_MESSAGE_MAX (1u << 20)
/* Frame types: host request, guest response, guest notification, stream
   bytes (both ways), stream credit (both ways).  */
#define BRIDGE_TYPE_REQUEST 1
#define BRIDGE_TYPE_RESPONSE 2
#define BRIDGE_TYPE_NOTIFY 3
#define BRIDGE_TYPE_DATA 4
#define BRIDGE_TYPE_CREDIT 5
/* The requests' "type" names: the host builds them (uvm/bridge/bridge.c),
   the guest decodes them (uvm/guest/bridge_request.c).  */
#define BRIDGE_REQ_SHUTDOWN "shutdown"
#define BRIDGE_REQ_CREATE "create"
#define BRIDGE_REQ_EXEC "exec"
#define BRIDGE_REQ_START "start"
#define BRIDGE_REQ_SIGNAL "signal"
#define BRIDGE_REQ_RESIZE "resize"
#define BRIDGE_REQ_STATS "stats"
#define BRIDGE_REQ_DELETE "delete"
#define BRIDGE_REQ_UPDATE "update"
#define BRIDGE_REQ_NETWORK "network"
#define BRIDGE_REQ_PING "ping"
#define BRIDGE_REQ_SETTIME "settime"
#define BRIDGE_REQ_DISK_REMOVE "disk_remove"
#define BRIDGE_REQ_VOLUME_UPDATE "volume_update"
#define BRIDGE_REQ_CONNECT "connect"
/* Streams of a process (the flags byte of DATA and CREDIT frames).  */
#define BRIDGE_STDIN 0
#define BRIDGE_STDOUT 1
#define BRIDGE_STDERR 2
/* Largest DATA body, and the bytes a sender may have unacknowledged per
   stream: the receiver credits what it has passed on.  */
#define BRIDGE_DATA_MAX (64u << 10)
#define BRIDGE_WINDOW (256u << 10)
/* The host directory share (uvm/host_share.h): its virtio-fs tag, and
   where the guest mounts it; a create's "shares" name paths beneath.  */
#define BRIDGE_SHARE_TAG "lcowshare"
#define BRIDGE_SHARE_DIR "/run/gcs/share"

#endif
