/* Tests for src/http/request.c: the WebSocket upgrade head fed whole, one byte at a time and
 * split at every position; pipelined bytes after the head; header-name case and token lists;
 * the 16 KiB head bound; malformed heads and versions; bodies; big and many headers. */
#include "test.h"

#include "http/request.h"

#include <stdio.h>
#include <stdlib.h>

#define UPGRADE                                                                                    \
    "GET /ws?token=abc#frag HTTP/1.1\r\n"                                                          \
    "Host: chat.example:3001\r\n"                                                                  \
    "Upgrade: websocket\r\n"                                                                       \
    "Connection: Upgrade\r\n"                                                                      \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                              \
    "Sec-WebSocket-Version: 13\r\n"                                                                \
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"                     \
    "Origin: https://chat.example\r\n"                                                             \
    "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"                                                   \
    "\r\n"

/* A masked client text frame "Hello" (RFC 6455 §5.7), pipelined after the head. */
#define FRAME "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"

static struct http_request req;

/* Feeds s whole; returns the result and the bytes consumed. */
static int parse_whole(const char *s, size_t n, size_t *consumed)
{
    http_request_init(&req);
    return http_request_feed(&req, s, n, consumed);
}

static int parse(const char *s)
{
    size_t consumed;
    return parse_whole(s, strlen(s), &consumed);
}

/* Feeds s one byte at a time until an answer other than HTTP_NEED_MORE; *head_len is the length
 * of the head when complete (the index of the last byte fed + its consumed byte). */
static int parse_bytewise(const char *s, size_t n, size_t *head_len)
{
    http_request_init(&req);
    *head_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t consumed;
        int rc = http_request_feed(&req, s + i, 1, &consumed);
        if (rc != HTTP_NEED_MORE) {
            *head_len = i + consumed;
            return rc;
        }
        if (consumed != 0) return -1;
    }
    return HTTP_NEED_MORE;
}

static void check_upgrade_fields(void)
{
    CHECK_STR(req.method, "GET");
    CHECK_STR(req.path, "/ws");
    CHECK_INT(req.http_major, 1);
    CHECK_INT(req.http_minor, 1);
    CHECK(req.keep_alive);
    CHECK(req.upgrade_websocket);
    CHECK(req.connection_upgrade);
    CHECK_STR(req.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(!req.ws_key_too_long);
    CHECK_STR(req.ws_version, "13");
    CHECK_STR(req.ws_extensions, "permessage-deflate; client_max_window_bits");
    CHECK(!req.ws_extensions_too_long);
    CHECK_STR(req.origin, "https://chat.example");
    CHECK(!req.origin_too_long);
    CHECK_STR(req.x_forwarded_for, "203.0.113.7, 10.0.0.1");
    CHECK(req.has_host);
    CHECK(!req.has_body);
}

TEST(upgrade_fed_whole)
{
    size_t consumed = 99;
    CHECK_INT(parse_whole(UPGRADE, strlen(UPGRADE), &consumed), 0);
    CHECK_INT(consumed, strlen(UPGRADE));
    check_upgrade_fields();
}

TEST(upgrade_fed_one_byte_at_a_time)
{
    size_t head_len;
    CHECK_INT(parse_bytewise(UPGRADE, strlen(UPGRADE), &head_len), 0);
    CHECK_INT(head_len, strlen(UPGRADE));
    check_upgrade_fields();
}

/* Every split point: names, values, the request line and the CRLFs each cut in two. */
TEST(upgrade_split_at_every_position)
{
    size_t n = strlen(UPGRADE);
    for (size_t cut = 1; cut < n; cut++) {
        size_t consumed;
        http_request_init(&req);
        CHECK_INT(http_request_feed(&req, UPGRADE, cut, &consumed), HTTP_NEED_MORE);
        CHECK_INT(consumed, 0);
        CHECK_INT(http_request_feed(&req, UPGRADE + cut, n - cut, &consumed), 0);
        CHECK_INT(consumed, n - cut);
        check_upgrade_fields();
    }
}

TEST(header_value_split_across_feeds)
{
    const char *parts[] = {"GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key:  dGhl",
                           "IHNhbXBs",
                           "ZSBub25j",
                           "ZQ==  \r",
                           "\nSec-WebSocket-Ver",
                           "sion: 1",
                           "3\r\n\r\n"};
    size_t consumed;
    http_request_init(&req);
    for (size_t i = 0; i + 1 < sizeof parts / sizeof parts[0]; i++)
        CHECK_INT(http_request_feed(&req, parts[i], strlen(parts[i]), &consumed), HTTP_NEED_MORE);
    CHECK_INT(http_request_feed(&req, parts[6], strlen(parts[6]), &consumed), 0);
    CHECK_INT(consumed, strlen(parts[6]));
    CHECK_STR(req.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK_STR(req.ws_version, "13");
}

TEST(pipelined_frame_after_head_is_not_consumed)
{
    const char input[] = UPGRADE FRAME;
    size_t n = sizeof input - 1, head = strlen(UPGRADE), consumed;

    CHECK_INT(parse_whole(input, n, &consumed), 0);
    CHECK_INT(consumed, head);
    CHECK_MEM(input + consumed, FRAME, sizeof FRAME - 1);

    size_t head_len;
    CHECK_INT(parse_bytewise(input, n, &head_len), 0);
    CHECK_INT(head_len, head);

    /* the head ends inside the second feed, frame bytes follow it there */
    http_request_init(&req);
    CHECK_INT(http_request_feed(&req, input, head - 3, &consumed), HTTP_NEED_MORE);
    CHECK_INT(http_request_feed(&req, input + head - 3, n - (head - 3), &consumed), 0);
    CHECK_INT(consumed, 3);
    check_upgrade_fields();
}

TEST(complete_request_answers_the_same_and_consumes_nothing)
{
    size_t consumed;
    CHECK_INT(parse_whole(UPGRADE, strlen(UPGRADE), &consumed), 0);
    CHECK_INT(http_request_feed(&req, FRAME, sizeof FRAME - 1, &consumed), 0);
    CHECK_INT(consumed, 0);
    CHECK_INT(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    CHECK_INT(http_request_feed(&req, "x", 1, &consumed), 505);
    CHECK_INT(consumed, 0);
}

TEST(zero_byte_feed_changes_nothing)
{
    size_t consumed;
    http_request_init(&req);
    CHECK_INT(http_request_feed(&req, "", 0, &consumed), HTTP_NEED_MORE);
    CHECK_INT(http_request_feed(&req, UPGRADE, strlen(UPGRADE), &consumed), 0);
    CHECK_INT(consumed, strlen(UPGRADE));
}

TEST(missing_host)
{
    CHECK_INT(parse("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), 0);
    CHECK(!req.has_host);
    CHECK(req.upgrade_websocket);
}

TEST(empty_host_is_present)
{
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0);
    CHECK(req.has_host);
}

TEST(duplicate_host_is_400)
{
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
}

TEST(header_names_any_case)
{
    CHECK_INT(parse("GET /ws HTTP/1.1\r\n"
                    "host: a\r\n"
                    "upgrade: WebSocket\r\n"
                    "CONNECTION: UPGRADE\r\n"
                    "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "SEC-WEBSOCKET-VERSION: 13\r\n"
                    "sEc-WeBsOcKeT-eXtEnSiOnS: permessage-deflate\r\n"
                    "ORIGIN: http://x\r\n"
                    "x-FORWARDED-for: 1.2.3.4\r\n"
                    "\r\n"),
              0);
    CHECK(req.has_host);
    CHECK(req.upgrade_websocket);
    CHECK(req.connection_upgrade);
    CHECK_STR(req.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK_STR(req.ws_version, "13");
    CHECK_STR(req.ws_extensions, "permessage-deflate");
    CHECK_STR(req.origin, "http://x");
    CHECK_STR(req.x_forwarded_for, "1.2.3.4");
}

TEST(connection_token_lists)
{
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n"), 0);
    CHECK(req.connection_upgrade);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: keep-alive,Upgrade , close\r\n\r\n"), 0);
    CHECK(req.connection_upgrade);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: upgrade\r\n\r\n"), 0);
    CHECK(req.connection_upgrade);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"), 0);
    CHECK(!req.connection_upgrade);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: upgraded, upgrad, up grade\r\n\r\n"), 0);
    CHECK(!req.connection_upgrade);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection:\r\nX-Upgrade: upgrade\r\n\r\n"), 0);
    CHECK(!req.connection_upgrade);
    CHECK_INT(parse("GET / HTTP/1.1\r\nUpgrade: h2c, WEBSOCKET\r\n\r\n"), 0);
    CHECK(req.upgrade_websocket);
    CHECK_INT(parse("GET / HTTP/1.1\r\nUpgrade: websocket2\r\n\r\n"), 0);
    CHECK(!req.upgrade_websocket);
}

TEST(values_are_trimmed_and_repeats_joined)
{
    const char *s = "GET / HTTP/1.1\r\n"
                    "Sec-WebSocket-Key: \t abc \t \r\n"
                    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                    "Sec-WebSocket-Extensions:\r\n"
                    "Sec-WebSocket-Extensions:  x-foo;  a=1  \r\n"
                    "Origin:   \r\n"
                    "\r\n";
    size_t head_len;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        if (bytewise)
            CHECK_INT(parse_bytewise(s, strlen(s), &head_len), 0);
        else
            CHECK_INT(parse(s), 0);
        CHECK_STR(req.ws_key, "abc");
        CHECK_STR(req.ws_extensions, "permessage-deflate, x-foo;  a=1");
        CHECK_STR(req.origin, "");
    }
}

TEST(websocket_key_too_long)
{
    char s[256];
    int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nSec-WebSocket-Key: %064d\r\n\r\n", 0);
    CHECK_INT(parse_whole(s, (size_t)n, &(size_t){0}), 0);
    CHECK(req.ws_key_too_long);
    CHECK_STR(req.ws_key, "");
    n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nSec-WebSocket-Key: %063d   \r\n\r\n", 0);
    CHECK_INT(parse_whole(s, (size_t)n, &(size_t){0}), 0);
    CHECK(!req.ws_key_too_long);
    CHECK_INT(strlen(req.ws_key), 63);
}

TEST(http_1_0_parses)
{
    CHECK_INT(parse("GET /ws HTTP/1.0\r\nUpgrade: websocket\r\n\r\n"), 0);
    CHECK_INT(req.http_major, 1);
    CHECK_INT(req.http_minor, 0);
    CHECK(!req.keep_alive);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 0);
    CHECK(!req.keep_alive);
}

TEST(other_versions_are_505)
{
    CHECK_INT(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    CHECK_INT(parse("GET / HTTP/2.0\r\n\r\n"), 505);
    CHECK_INT(parse("GET / HTTP/0.9\r\n\r\n"), 505);
    size_t head_len;
    const char *s = "GET / HTTP/3.0\r\nHost: a\r\n\r\n";
    CHECK_INT(parse_bytewise(s, strlen(s), &head_len), 505);
}

TEST(malformed_request_line_is_400)
{
    CHECK_INT(parse("GET\r\n\r\n"), 400);
    CHECK_INT(parse("G@T / HTTP/1.1\r\n\r\n"), 400);
    CHECK_INT(parse("GET / XXXX/1.1\r\n\r\n"), 400);
    CHECK_INT(parse("GET / HTTP/1.1 extra\r\n\r\n"), 400);
    CHECK_INT(parse("GET / HTTP/1.10\r\n\r\n"), 400);
    CHECK_INT(parse("GET /a b HTTP/1.1\r\n\r\n"), 400);
    CHECK_INT(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
    CHECK_INT(parse("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400);
    CHECK_INT(parse("GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n"), 400);
    CHECK_INT(parse("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400); /* a TLS hello */
}

TEST(paths)
{
    CHECK_INT(parse("GET / HTTP/1.1\r\n\r\n"), 0);
    CHECK_STR(req.path, "/");
    CHECK_INT(parse("GET /health?x=1 HTTP/1.1\r\n\r\n"), 0);
    CHECK_STR(req.path, "/health");
    CHECK_INT(parse("GET http://chat.example:3001/ws?x HTTP/1.1\r\n\r\n"), 0);
    CHECK_STR(req.path, "/ws");
    CHECK_INT(parse("GET http://chat.example HTTP/1.1\r\n\r\n"), 0);
    CHECK_STR(req.path, "/");
    CHECK_INT(parse("POST /metrics HTTP/1.1\r\n\r\n"), 0);
    CHECK_STR(req.method, "POST");
    CHECK_INT(parse("PROPFIND / HTTP/1.1\r\n\r\n"), 0);
    CHECK_STR(req.method, "PROPFIN");
}

TEST(url_bound)
{
    char s[HTTP_MAX_URL + 64];
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', HTTP_MAX_URL - 1);
    memcpy(s + 4 + HTTP_MAX_URL, " HTTP/1.1\r\n\r\n", 14);
    CHECK_INT(parse_whole(s, 4 + HTTP_MAX_URL + 14, &(size_t){0}), 0);
    CHECK_INT(strlen(req.path), HTTP_MAX_URL);

    memset(s + 5, 'a', HTTP_MAX_URL);
    memcpy(s + 5 + HTTP_MAX_URL, " HTTP/1.1\r\n\r\n", 14);
    CHECK_INT(parse_whole(s, 5 + HTTP_MAX_URL + 14, &(size_t){0}), 414);
    size_t head_len;
    CHECK_INT(parse_bytewise(s, 5 + HTTP_MAX_URL + 14, &head_len), 414);
}

TEST(body_is_detected_and_not_consumed)
{
    const char *s = "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    size_t consumed;
    CHECK_INT(parse_whole(s, strlen(s), &consumed), 0);
    CHECK(req.has_body);
    CHECK_INT(consumed, strlen(s) - 5);
    CHECK_INT(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    CHECK(req.has_body);
    CHECK_INT(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 0);
    CHECK(!req.has_body);
    CHECK_INT(parse("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
}

/* Builds a head of exactly total bytes: request line, one padding header, blank line. */
static char *head_of_size(size_t total, size_t extra)
{
    static const char start[] = "GET /ws HTTP/1.1\r\nX-Pad: ";
    static const char end[] = "\r\n\r\n";
    char *s = malloc(total + extra + 1);
    size_t pad = total - (sizeof start - 1) - (sizeof end - 1);
    memcpy(s, start, sizeof start - 1);
    memset(s + sizeof start - 1, 'p', pad);
    memcpy(s + sizeof start - 1 + pad, end, sizeof end - 1);
    memset(s + total, 'F', extra);
    s[total + extra] = '\0';
    return s;
}

TEST(head_bound_431)
{
    size_t consumed, head_len;
    char *s = head_of_size(HTTP_MAX_HEADER_BYTES, 100);
    CHECK_INT(parse_whole(s, HTTP_MAX_HEADER_BYTES + 100, &consumed), 0);
    CHECK_INT(consumed, HTTP_MAX_HEADER_BYTES);
    CHECK_INT(parse_bytewise(s, HTTP_MAX_HEADER_BYTES + 100, &head_len), 0);
    CHECK_INT(head_len, HTTP_MAX_HEADER_BYTES);
    free(s);

    s = head_of_size(HTTP_MAX_HEADER_BYTES + 1, 0);
    CHECK_INT(parse_whole(s, HTTP_MAX_HEADER_BYTES + 1, &consumed), 431);
    CHECK_INT(parse_bytewise(s, HTTP_MAX_HEADER_BYTES + 1, &head_len), 431);
    /* answered at the byte that passes the bound, which here is the last one */
    CHECK_INT(head_len, HTTP_MAX_HEADER_BYTES);
    free(s);
}

TEST(head_bound_detected_before_the_head_ends)
{
    /* a header that never ends, fed in 1000-byte pieces: 431 as soon as 16384 is passed */
    char *s = head_of_size(40000, 0);
    size_t consumed, fed = 0;
    int rc = HTTP_NEED_MORE;
    http_request_init(&req);
    while (rc == HTTP_NEED_MORE && fed < 40000) {
        rc = http_request_feed(&req, s + fed, 1000, &consumed);
        fed += 1000;
    }
    CHECK_INT(rc, 431);
    CHECK_INT(fed, 17000);
    free(s);
}

TEST(ten_kilobyte_header_value_is_fine)
{
    char *s = head_of_size(10 * 1024 + 64, 0);
    size_t consumed;
    CHECK_INT(parse_whole(s, strlen(s), &consumed), 0);
    CHECK_INT(consumed, strlen(s));
    free(s);
}

TEST(long_values_are_flagged)
{
    char s[4096];
    size_t n = 0;
    n += (size_t)snprintf(s, sizeof s, "GET / HTTP/1.1\r\nOrigin: https://");
    memset(s + n, 'o', 1000);
    n += 1000;
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\nX-Forwarded-For: 198.51.100.1");
    for (int i = 0; i < 100; i++) n += (size_t)snprintf(s + n, sizeof s - n, ", 10.0.0.%d", i);
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\nSec-WebSocket-Extensions: ");
    memset(s + n, 'e', 600);
    n += 600;
    n += (size_t)snprintf(s + n, sizeof s - n, "\r\n\r\n");
    CHECK_INT(parse_whole(s, n, &(size_t){0}), 0);
    CHECK(req.origin_too_long);
    CHECK_INT(strlen(req.origin), sizeof req.origin - 1);
    CHECK(req.x_forwarded_for_too_long);
    CHECK(strncmp(req.x_forwarded_for, "198.51.100.1, 10.0.0.0", 22) == 0);
    CHECK(req.ws_extensions_too_long);
    CHECK(!req.ws_key_too_long);
}

TEST(many_headers)
{
    char *s = malloc(HTTP_MAX_HEADER_BYTES);
    size_t n = (size_t)snprintf(s, HTTP_MAX_HEADER_BYTES, "GET /ws HTTP/1.1\r\n");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(s + n, HTTP_MAX_HEADER_BYTES - n, "X-Header-%d: value %d\r\n", i, i);
    n += (size_t)snprintf(s + n, HTTP_MAX_HEADER_BYTES - n,
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    size_t consumed, head_len;
    CHECK_INT(parse_whole(s, n, &consumed), 0);
    CHECK_INT(consumed, n);
    CHECK_STR(req.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK_INT(parse_bytewise(s, n, &head_len), 0);
    CHECK_INT(head_len, n);
    CHECK_STR(req.ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
    free(s);
}

TEST(long_header_names_match_nothing)
{
    char s[512];
    char name[100];
    memset(name, 'h', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    int n =
        snprintf(s, sizeof s, "GET / HTTP/1.1\r\n%s: x\r\nSec-WebSocket-Version: 13\r\n\r\n", name);
    CHECK_INT(parse_whole(s, (size_t)n, &(size_t){0}), 0);
    CHECK_STR(req.ws_version, "13");
    CHECK(!req.has_host);
}
