/*
 * http.h - the lws protocol behind the REST mounts ("srv-http"): reads a
 * request, hands it to routes.h, writes the answer (http.c).
 */
#ifndef RACEBOARD_SERVER_HTTP_H
#define RACEBOARD_SERVER_HTTP_H

#include <libwebsockets.h>

extern const struct lws_protocols srv_http_protocol;

#endif
