/* An incremental parser for the head of an HTTP/1.x request (request line and
 * headers), built on http_parser: it picks out what the WebSocket upgrade and the
 * plain HTTP endpoints need, bounds everything, and does no I/O. */
#ifndef CHATD_HTTP_REQUEST_H
#define CHATD_HTTP_REQUEST_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER_BYTES 16384 /* request line + headers; over → 431 */
#define HTTP_MAX_URL 2048           /* request target; over → 414 */

/* http_request_feed's answer while the head is still incomplete. */
#define HTTP_NEED_MORE 1

/* Accumulates one header value into a fixed field of struct http_request:
 * surrounding whitespace trimmed, repeated headers joined with ", ". */
struct http__field_sink {
    char *dst;
    size_t cap; /* bytes of dst, NUL included */
    size_t len;
    size_t pending_spaces; /* whitespace seen after content, kept only if content follows */
    bool fresh;            /* no content seen yet in the current occurrence */
    bool too_long;
};

/* Watches a comma-separated header value for one token (case-insensitive): matches the
 * current list element against the token as it arrives, so nothing is stored. */
struct http__token_sink {
    const char *token; /* lowercase */
    bool *found;
    size_t matched;      /* characters of the token the element has matched so far */
    bool trailing_space; /* whitespace after content: more content breaks the element */
    bool broken;         /* the element cannot equal the token */
};

struct http_request {
    /* results, valid once http_request_feed returned 0 */
    char method[8];              /* "GET" …; longer method names are cut to 7 characters */
    char path[HTTP_MAX_URL + 1]; /* path without query string or fragment */
    int http_major, http_minor;
    bool keep_alive;         /* the client lets the connection stay open (http_should_keep_alive) */
    bool upgrade_websocket;  /* Upgrade contains the token "websocket" (case-insensitive) */
    bool connection_upgrade; /* Connection contains the token "upgrade" (case-insensitive) */
    char ws_key[64];         /* Sec-WebSocket-Key, trimmed; "" if absent or too long */
    bool ws_key_too_long;
    char ws_version[16];         /* Sec-WebSocket-Version */
    char ws_extensions[512];     /* Sec-WebSocket-Extensions, all occurrences joined with ", " */
    bool ws_extensions_too_long; /* ws_extensions holds only a prefix: do not negotiate */
    char origin[512];
    bool origin_too_long; /* origin holds only a prefix: it must match no allow-list */
    char x_forwarded_for[256];
    bool x_forwarded_for_too_long; /* the leftmost addresses are kept */
    bool has_host;
    bool has_body; /* Content-Length > 0 or Transfer-Encoding: a GET with a body is rejected */

    /* private: parser state */
    http_parser parser;
    size_t head_bytes; /* bytes of the head fed so far, bounded by HTTP_MAX_HEADER_BYTES */
    size_t url_len;
    int status; /* the final answer once known: 0 (complete) or an HTTP status */
    bool complete;
    bool request_line_done;
    int host_count;
    bool transfer_encoding;
    int last_callback; /* which of header field / value came last */
    char name[32];     /* the current header name; longer names match nothing we read */
    size_t name_len;
    struct http__field_sink *field;  /* where the current value goes, or NULL */
    struct http__token_sink *tokens; /* which token list the current value is, or NULL */
    struct http__field_sink key_sink, version_sink, extensions_sink, origin_sink, xff_sink;
    struct http__token_sink upgrade_sink, connection_sink;
};

/* Prepares r for a new request head. r holds pointers into itself: do not copy or move it
 * while a head is being parsed. Allocates nothing; there is nothing to free. */
void http_request_init(struct http_request *r);

/* Feeds n bytes of the request head. Returns HTTP_NEED_MORE until the head is complete, 0 when
 * it is (*consumed = the bytes of the head in this feed, which may be fewer than n: what follows
 * the head belongs to the WebSocket stream or the next request), or the HTTP status the server
 * must answer with: 400 (malformed, or more than one Host), 414 (target over HTTP_MAX_URL), 431
 * (head over HTTP_MAX_HEADER_BYTES counted over all feeds, as soon as the bound passes), 505
 * (HTTP version other than 1.x). Once it returned 0 or a status, it returns the same again and
 * consumes nothing. Feeding zero bytes changes nothing. */
int http_request_feed(struct http_request *r, const char *data, size_t n, size_t *consumed);

#endif
