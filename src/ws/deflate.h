/* permessage-deflate (RFC 7692): negotiating the extension from a client's
 * offers, and the compressors a loop shares among its connections. chatd
 * always answers with server_no_context_takeover and
 * client_no_context_takeover (§7.1.1.1 and §7.1.1.2 let a server do so), so
 * every message is compressed on its own: a connection keeps no zlib state,
 * and one compressed frame can go to every connection that negotiated the
 * same window. No I/O here. */
#ifndef CHATD_WS_DEFLATE_H
#define CHATD_WS_DEFLATE_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define WS_DEFLATE_RESPONSE_MAX 160

/* What was agreed for one connection. */
struct ws_deflate_params {
    bool enabled;
    uint8_t server_window_bits; /* 9..15: the window our compressor may use */
};

/* Reads a Sec-WebSocket-Extensions value (offers separated by commas) and
 * accepts the first permessage-deflate offer whose parameters are valid and
 * that zlib can honour (server_max_window_bits 8 cannot be). Returns true and
 * fills params and response (a whole "Sec-WebSocket-Extensions: …\r\n" line)
 * when one was accepted; false when none was (answer without the extension). */
bool ws_deflate_negotiate(const char *offers, struct ws_deflate_params *params, char *response,
                          size_t response_len);

/* One loop's zlib streams: an inflater and one deflater per window size,
 * each made on first use and reset for every message. */
struct ws_deflate_ctx {
    z_stream inflater;
    bool inflater_ready;
    z_stream deflaters[7]; /* window bits 9..15 */
    bool deflater_ready[7];
};

void ws_deflate_ctx_init(struct ws_deflate_ctx *ctx);
void ws_deflate_ctx_free(struct ws_deflate_ctx *ctx);

/* Inflates one message (RFC 7692 §7.2.2: the payload plus 00 00 ff ff) into
 * out, which is emptied first and whose bound is the message limit. Returns 0,
 * -1009 when the inflated message passes out->max (it stops inflating there:
 * a small bomb costs little), -1007 when the data does not inflate, or
 * -1011 when memory ran out. */
int ws_inflate_message(struct ws_deflate_ctx *ctx, const uint8_t *in, size_t len, buf *out);

/* Deflates one message with the given window into out (emptied first),
 * without the trailing 00 00 ff ff (§7.2.1). 0, or CHAT_E_NOMEM /
 * CHAT_E_TOO_BIG / CHAT_E_INTERNAL. */
int ws_deflate_message(struct ws_deflate_ctx *ctx, int window_bits, const uint8_t *in, size_t len,
                       buf *out);

#endif
