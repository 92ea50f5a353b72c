/* Tests for permessage-deflate: offer negotiation (RFC 7692 §7) and
 * per-message compression with the inflation bound. */
#include "test.h"
#include "util/buf.h"
#include "ws/deflate.h"

#include <stdlib.h>

static bool negotiate(const char *offers, struct ws_deflate_params *p, char *response)
{
    return ws_deflate_negotiate(offers, p, response, WS_DEFLATE_RESPONSE_MAX);
}

TEST(deflate_plain_offer_accepted_without_context_takeover)
{
    struct ws_deflate_params p;
    char response[WS_DEFLATE_RESPONSE_MAX];
    CHECK(negotiate("permessage-deflate", &p, response));
    CHECK(p.enabled);
    CHECK_INT(p.server_window_bits, 15);
    CHECK_STR(response, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover\r\n");
}

TEST(deflate_browser_offer_accepted)
{
    struct ws_deflate_params p;
    char response[WS_DEFLATE_RESPONSE_MAX];
    CHECK(negotiate("permessage-deflate; client_max_window_bits", &p, response));
    CHECK(negotiate("permessage-deflate; client_max_window_bits=10; client_no_context_takeover", &p,
                    response));
}

TEST(deflate_server_window_honoured)
{
    struct ws_deflate_params p;
    char response[WS_DEFLATE_RESPONSE_MAX];
    CHECK(negotiate("permessage-deflate; server_max_window_bits=10", &p, response));
    CHECK_INT(p.server_window_bits, 10);
    CHECK(strstr(response, "server_max_window_bits=10") != NULL);
    CHECK(negotiate("permessage-deflate; server_max_window_bits=\"12\"", &p, response));
    CHECK_INT(p.server_window_bits, 12);
}

TEST(deflate_invalid_offers_declined)
{
    static const char *const offers[] = {
        "permessage-deflate; foo=1",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=8", /* zlib cannot */
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "x-webkit-deflate-frame",
        "permessage-deflate x",
        "",
    };
    struct ws_deflate_params p;
    char response[WS_DEFLATE_RESPONSE_MAX];
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
        if (negotiate(offers[i], &p, response))
            test_fail(__FILE__, __LINE__, "accepted %s", offers[i]);
        CHECK(!p.enabled);
    }
}

TEST(deflate_first_valid_offer_wins)
{
    struct ws_deflate_params p;
    char response[WS_DEFLATE_RESPONSE_MAX];
    CHECK(negotiate("permessage-deflate; foo, permessage-deflate; server_max_window_bits=11", &p,
                    response));
    CHECK_INT(p.server_window_bits, 11);
}

TEST(deflate_round_trip_every_window)
{
    struct ws_deflate_ctx ctx;
    ws_deflate_ctx_init(&ctx);
    buf packed, plain;
    buf_init(&packed, 1 << 20);
    buf_init(&plain, 65536);
    const char *text = "{\"type\":\"new_message\",\"content\":\"hello hello hello hello hello\"}";
    for (int bits = 9; bits <= 15; bits++) {
        CHECK_INT(ws_deflate_message(&ctx, bits, (const uint8_t *)text, strlen(text), &packed), 0);
        CHECK_INT(ws_inflate_message(&ctx, packed.data, packed.len, &plain), 0);
        CHECK_INT(plain.len, strlen(text));
        CHECK_MEM(plain.data, text, strlen(text));
    }
    buf_free(&packed);
    buf_free(&plain);
    ws_deflate_ctx_free(&ctx);
}

TEST(deflate_inflation_bound_is_exact)
{
    struct ws_deflate_ctx ctx;
    ws_deflate_ctx_init(&ctx);
    buf packed, plain;
    buf_init(&packed, 2 << 20);
    buf_init(&plain, 1000);
    uint8_t *spaces = malloc(1 << 20);
    memset(spaces, ' ', 1 << 20);
    CHECK_INT(ws_deflate_message(&ctx, 15, spaces, 1000, &packed), 0);
    CHECK_INT(ws_inflate_message(&ctx, packed.data, packed.len, &plain), 0);
    CHECK_INT(plain.len, 1000);
    CHECK_INT(ws_deflate_message(&ctx, 15, spaces, 1001, &packed), 0);
    CHECK_INT(ws_inflate_message(&ctx, packed.data, packed.len, &plain), -1009);
    CHECK_INT(ws_deflate_message(&ctx, 15, spaces, 1 << 20, &packed), 0); /* a bomb */
    CHECK_INT(ws_inflate_message(&ctx, packed.data, packed.len, &plain), -1009);
    CHECK(plain.len <= 1000);
    free(spaces);
    buf_free(&packed);
    buf_free(&plain);
    ws_deflate_ctx_free(&ctx);
}

TEST(deflate_corrupt_data_is_1007)
{
    struct ws_deflate_ctx ctx;
    ws_deflate_ctx_init(&ctx);
    buf plain;
    buf_init(&plain, 1000);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_INT(ws_inflate_message(&ctx, junk, sizeof junk, &plain), -1007);
    buf_free(&plain);
    ws_deflate_ctx_free(&ctx);
}
