/*
 * ws.h - the "raceboard.v1" WebSocket protocol at /ws (ws.c; the wire
 * format is docs/PROTOCOL.md).
 */
#ifndef RACEBOARD_SERVER_WS_H
#define RACEBOARD_SERVER_WS_H

#include <libwebsockets.h>

extern const struct lws_protocols srv_ws_protocol;

#endif
