/* Building HTTP/1.1 responses into a bounded buffer: plain answers for the HTTP endpoints and
 * handshake refusals, and the 101 answer of the WebSocket upgrade. No I/O. */
#ifndef CHATD_HTTP_RESPONSE_H
#define CHATD_HTTP_RESPONSE_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Appends a full response to out: the status line with the standard reason phrase, Content-Type
 * (when content_type is non-NULL and there is a body), Content-Length (not for 1xx and 204, which
 * must carry no body), "Connection: close" unless keep_alive, extra_headers (already formatted as
 * "Name: value\r\n" lines, may be NULL), a blank line and the body (body may be NULL when
 * body_len is 0). Returns 0, CHAT_E_TOO_BIG or CHAT_E_NOMEM from out, or CHAT_E_INTERNAL for a
 * status outside 100..599 or a body on a 1xx/204; on failure out is left as it was. */
int http_response_write(buf *out, int status, const char *content_type, const char *extra_headers,
                        const char *body, size_t body_len, bool keep_alive);

/* Appends the 101 Switching Protocols answer of the WebSocket upgrade: Upgrade, Connection,
 * "Sec-WebSocket-Accept: accept", then extensions_header if non-NULL (a full
 * "Sec-WebSocket-Extensions: …\r\n" line). Same results as http_response_write. */
int http_response_upgrade(buf *out, const char *accept, const char *extensions_header);

/* The standard reason phrase of status ("Unknown" for codes chatd never sends). */
const char *http_status_reason(int status);

#endif
