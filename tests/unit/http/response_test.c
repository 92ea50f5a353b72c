/* Tests for src/http/response.c: exact bytes of plain responses and of the 101 upgrade answer,
 * bodyless statuses, reason phrases, and that a response that does not fit leaves the buffer
 * as it was. */
#include "test.h"

#include "http/response.h"
#include "util/error.h"

static const char *text(const buf *b)
{
    return b->data ? (const char *)b->data : "";
}

TEST(json_body_closes_connection)
{
    buf out;
    buf_init(&out, 4096);
    const char body[] = "{\"status\":\"ok\"}";
    CHECK_INT(
        http_response_write(&out, 200, "application/json", NULL, body, sizeof body - 1, false), 0);
    CHECK_STR(text(&out), "HTTP/1.1 200 OK\r\n"
                          "Content-Type: application/json\r\n"
                          "Content-Length: 15\r\n"
                          "Connection: close\r\n"
                          "\r\n"
                          "{\"status\":\"ok\"}");
    buf_free(&out);
}

TEST(empty_body_keep_alive)
{
    buf out;
    buf_init(&out, 4096);
    CHECK_INT(http_response_write(&out, 404, "text/plain", NULL, NULL, 0, true), 0);
    CHECK_STR(text(&out), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    buf_free(&out);
}

TEST(extra_headers_and_appending)
{
    buf out;
    buf_init(&out, 4096);
    CHECK_INT(buf_append_str(&out, "previous;"), 0);
    CHECK_INT(http_response_write(&out, 426, "text/plain", "Sec-WebSocket-Version: 13\r\n",
                                  "upgrade required\n", 17, false),
              0);
    CHECK_STR(text(&out), "previous;"
                          "HTTP/1.1 426 Upgrade Required\r\n"
                          "Content-Type: text/plain\r\n"
                          "Content-Length: 17\r\n"
                          "Connection: close\r\n"
                          "Sec-WebSocket-Version: 13\r\n"
                          "\r\n"
                          "upgrade required\n");
    buf_free(&out);
}

TEST(no_content_has_no_length_and_no_body)
{
    buf out;
    buf_init(&out, 4096);
    CHECK_INT(http_response_write(&out, 204, NULL, NULL, NULL, 0, true), 0);
    CHECK_STR(text(&out), "HTTP/1.1 204 No Content\r\n\r\n");
    buf_reset(&out);
    CHECK_INT(http_response_write(&out, 204, "text/plain", NULL, "x", 1, true), CHAT_E_INTERNAL);
    CHECK_INT(out.len, 0);
    buf_free(&out);
}

TEST(invalid_status)
{
    buf out;
    buf_init(&out, 4096);
    CHECK_INT(http_response_write(&out, 99, NULL, NULL, NULL, 0, true), CHAT_E_INTERNAL);
    CHECK_INT(http_response_write(&out, 600, NULL, NULL, NULL, 0, true), CHAT_E_INTERNAL);
    CHECK_INT(out.len, 0);
    CHECK_INT(http_response_write(&out, 599, NULL, NULL, NULL, 0, true), 0);
    CHECK_STR(text(&out), "HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n\r\n");
    buf_free(&out);
}

TEST(bound_leaves_buffer_unchanged)
{
    buf out;
    buf_init(&out, 80);
    CHECK_INT(buf_append_str(&out, "kept"), 0);
    char body[60];
    memset(body, 'b', sizeof body);
    CHECK_INT(http_response_write(&out, 200, "text/plain", NULL, body, sizeof body, false),
              CHAT_E_TOO_BIG);
    CHECK_INT(out.len, 4);
    CHECK_STR(text(&out), "kept");
    CHECK_INT(http_response_upgrade(&out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", NULL), CHAT_E_TOO_BIG);
    CHECK_STR(text(&out), "kept");
    buf_free(&out);
}

/* RFC 6455 §1.3: the key "dGhlIHNhbXBsZSBub25jZQ==" is answered with this accept value. */
TEST(upgrade_answer)
{
    buf out;
    buf_init(&out, 4096);
    CHECK_INT(http_response_upgrade(&out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", NULL), 0);
    CHECK_STR(text(&out), "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                          "\r\n");
    buf_reset(&out);
    CHECK_INT(http_response_upgrade(&out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                    "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
              0);
    CHECK_STR(text(&out), "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\n"
                          "Connection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                          "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                          "\r\n");
    buf_free(&out);
}

TEST(reason_phrases)
{
    CHECK_STR(http_status_reason(101), "Switching Protocols");
    CHECK_STR(http_status_reason(400), "Bad Request");
    CHECK_STR(http_status_reason(403), "Forbidden");
    CHECK_STR(http_status_reason(414), "URI Too Long");
    CHECK_STR(http_status_reason(429), "Too Many Requests");
    CHECK_STR(http_status_reason(431), "Request Header Fields Too Large");
    CHECK_STR(http_status_reason(503), "Service Unavailable");
    CHECK_STR(http_status_reason(505), "HTTP Version Not Supported");
    CHECK_STR(http_status_reason(299), "Unknown");
}
