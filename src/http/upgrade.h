/* Decides what to answer to a request head: the WebSocket upgrade checks of
 * RFC 6455 §4.2.1 and protocol §1, as a pure function of the parsed head. */
#ifndef CHATD_HTTP_UPGRADE_H
#define CHATD_HTTP_UPGRADE_H

#include "http/request.h"
#include "ws/handshake.h"

#include <stdbool.h>

/* True when the head asks for a WebSocket (any of Upgrade: websocket,
 * Sec-WebSocket-Key or Sec-WebSocket-Version is present): such a head gets
 * the upgrade checks, and never a plain page. */
bool http_upgrade_requested(const struct http_request *r);

/* Checks an upgrade request. Returns 101 and fills accept when it may
 * proceed, else the status to answer: 400 (malformed: not GET, HTTP/1.0,
 * a body, no Host, missing Upgrade/Connection/key/version, bad key), 426
 * (a version other than 13; answer with Sec-WebSocket-Version: 13), 403
 * (Origin not in allowed_origins, a comma-separated list; "" allows any),
 * 404 (a path other than / and /ws). */
int http_upgrade_check(const struct http_request *r, const char *allowed_origins,
                       char accept[WS_ACCEPT_LEN + 1]);

#endif
