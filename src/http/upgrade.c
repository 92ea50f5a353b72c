/* The WebSocket upgrade decision: see upgrade.h. */
#include "http/upgrade.h"

#include <string.h>
#include <strings.h>

bool http_upgrade_requested(const struct http_request *r)
{
    return r->upgrade_websocket || r->ws_key[0] || r->ws_key_too_long || r->ws_version[0];
}

/* True when origin equals one entry of the comma-separated list
 * (whitespace around entries ignored; scheme and host compare without case). */
static bool origin_allowed(const char *origin, bool too_long, const char *list)
{
    if (!list[0]) return true;
    if (too_long || !origin[0]) return false;
    size_t origin_len = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        const char *last = end;
        while (last > p && last[-1] == ' ') last--;
        if ((size_t)(last - p) == origin_len && strncasecmp(p, origin, origin_len) == 0)
            return true;
        p = end;
    }
    return false;
}

int http_upgrade_check(const struct http_request *r, const char *allowed_origins,
                       char accept[WS_ACCEPT_LEN + 1])
{
    /* RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP
     * version MUST be at least 1.1." */
    if (strcmp(r->method, "GET") != 0) return 400;
    if (r->http_major != 1 || r->http_minor < 1) return 400;
    if (r->has_body || !r->has_host) return 400;
    if (!r->upgrade_websocket || !r->connection_upgrade) return 400;
    if (!r->ws_version[0]) return 400;
    /* §4.4: a server that does not speak the requested version answers with
     * the versions it does speak (426 Upgrade Required). */
    if (strcmp(r->ws_version, "13") != 0) return 426;
    if (r->ws_key_too_long || !ws_handshake_key_valid(r->ws_key, strlen(r->ws_key))) return 400;
    if (!origin_allowed(r->origin, r->origin_too_long, allowed_origins)) return 403;
    if (strcmp(r->path, "/") != 0 && strcmp(r->path, "/ws") != 0) return 404;
    ws_handshake_accept(r->ws_key, strlen(r->ws_key), accept);
    return 101;
}
