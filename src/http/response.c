/* HTTP/1.1 response heads and bodies appended to a bounded buffer. See response.h. */
#include "http/response.h"

#include "util/error.h"

/* RFC 9110 §15 reason phrases of the codes chatd sends. */
static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http_status_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status) return reasons[i].reason;
    return "Unknown";
}

/* Drops what a failed write appended, so a caller never sends half a response. */
static void rollback(buf *out, size_t len)
{
    if (!out->data) return;
    out->len = len;
    out->data[len] = '\0';
}

int http_response_write(buf *out, int status, const char *content_type, const char *extra_headers,
                        const char *body, size_t body_len, bool keep_alive)
{
    /* RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response with
     * a status code of 1xx (Informational) or 204 (No Content)." Nor a body. */
    bool bodyless = status < 200 || status == 204;
    if (status < 100 || status > 599 || (bodyless && body_len > 0)) return CHAT_E_INTERNAL;

    size_t start = out->len;
    int err = buf_printf(out, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
    if (!err && content_type && body_len > 0)
        err = buf_printf(out, "Content-Type: %s\r\n", content_type);
    if (!err && !bodyless) err = buf_printf(out, "Content-Length: %zu\r\n", body_len);
    if (!err && !keep_alive) err = buf_append_str(out, "Connection: close\r\n");
    if (!err && extra_headers) err = buf_append_str(out, extra_headers);
    if (!err) err = buf_append(out, "\r\n", 2);
    if (!err && body_len > 0) err = buf_append(out, body, body_len);
    if (err) rollback(out, start);
    return err;
}

int http_response_upgrade(buf *out, const char *accept, const char *extensions_header)
{
    size_t start = out->len;
    int err = buf_printf(out,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n",
                         accept);
    if (!err && extensions_header) err = buf_append_str(out, extensions_header);
    if (!err) err = buf_append(out, "\r\n", 2);
    if (err) rollback(out, start);
    return err;
}
