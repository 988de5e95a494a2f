/* The shim <-> guest agent bridge on the GCS port: frames use the ttrpc
   frame header (length, id, type, flags) with a JSON body; see
   uvm/guest/PROTOCOL.md.  */
#ifndef LCOW_UVM_BRIDGE_PROTOCOL_H
#define LCOW_UVM_BRIDGE_PROTOCOL_H

#define BRIDGE_PROTOCOL_VERSION 1
/* Largest bridge message either side accepts.  */
#define BRIDGE_MESSAGE_MAX (1u << 20)
/* Frame types: host request, guest response, guest notification.  */
#define BRIDGE_TYPE_REQUEST 1
#define BRIDGE_TYPE_RESPONSE 2
#define BRIDGE_TYPE_NOTIFY 3

#endif
