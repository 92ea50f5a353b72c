/* /health and /ready: see endpoints.h. */
#include "http/endpoints.h"

#include "http/response.h"

#include <stdio.h>
#include <string.h>

#define JSON_TYPE "application/json"

int http_endpoint_respond(const struct http_request *r, const struct endpoint_status *status,
                          buf *out)
{
    char body[160];
    int n;
    if (strcmp(r->method, "GET") != 0)
        return http_response_write(out, 405, "text/plain", "Allow: GET\r\n", "method not allowed\n",
                                   19, false);
    if (strcmp(r->path, "/health") == 0) {
        n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"uptimeS\":%lld,\"connections\":%ld}",
                     (long long)status->uptime_s, status->connections);
        return http_response_write(out, 200, JSON_TYPE, NULL, body, (size_t)n, false);
    }
    if (strcmp(r->path, "/ready") == 0) {
        n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"database\":\"%s\"}",
                     status->ready ? "ready" : "unavailable", status->ready ? "up" : "down");
        return http_response_write(out, status->ready ? 200 : 503, JSON_TYPE, NULL, body,
                                   (size_t)n, false);
    }
    return http_response_write(out, 404, "text/plain", NULL, "not found\n", 10, false);
}
