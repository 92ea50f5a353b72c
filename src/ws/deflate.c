/* permessage-deflate negotiation and per-message (de)compression: see
 * deflate.h. */
#include "ws/deflate.h"

#include "util/error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEFLATE_LEVEL 1 /* chat messages are short: speed matters more than the last bytes */
#define DEFLATE_MEM_LEVEL 8
#define INFLATE_CHUNK 16384

/* ---------------------------------------------------------------- negotiation */

struct offer {
    bool server_no_context_takeover, client_no_context_takeover;
    int server_max_window_bits; /* 0: not given */
    bool client_max_window_bits;
};

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    return p;
}

/* Parses a window-bits value (8..15, optionally quoted); -1 when invalid. */
static int parse_bits(const char *p, const char *end)
{
    if (end - p >= 2 && *p == '"' && end[-1] == '"') p++, end--;
    if (end - p < 1 || end - p > 2) return -1;
    int v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 8 && v <= 15 ? v : -1;
}

/* Reads one parameter "name" or "name=value" into offer; false when the
 * parameter is unknown, repeated or has a wrong value (§7.1: such an offer
 * is declined). */
static bool offer_param(struct offer *o, const char *name, size_t name_len, const char *value,
                        const char *value_end, unsigned *seen)
{
    static const char *const names[] = {"server_no_context_takeover", "client_no_context_takeover",
                                        "server_max_window_bits", "client_max_window_bits"};
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (strlen(names[i]) == name_len && strncasecmp(name, names[i], name_len) == 0) which = i;
    if (which < 0 || (*seen & (1u << which))) return false;
    *seen |= 1u << which;
    switch (which) {
    case 0:
        o->server_no_context_takeover = true;
        return value == NULL;
    case 1:
        o->client_no_context_takeover = true;
        return value == NULL;
    case 2:
        o->server_max_window_bits = value ? parse_bits(value, value_end) : -1;
        return o->server_max_window_bits > 0;
    default:
        o->client_max_window_bits = true;
        return value == NULL || parse_bits(value, value_end) > 0;
    }
}

/* Parses the parameters of one offer, p..end being what follows its name. */
static bool offer_parse(const char *p, const char *end, struct offer *o)
{
    unsigned seen = 0;
    memset(o, 0, sizeof *o);
    while ((p = skip_space(p, end)) < end) {
        if (*p++ != ';') return false;
        p = skip_space(p, end);
        const char *name = p;
        while (p < end && *p != ';' && *p != '=' && *p != ' ' && *p != '\t') p++;
        size_t name_len = (size_t)(p - name);
        p = skip_space(p, end);
        const char *value = NULL, *value_end = NULL;
        if (p < end && *p == '=') {
            value = skip_space(p + 1, end);
            p = value;
            while (p < end && *p != ';') p++;
            value_end = p;
            while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
                value_end--;
        }
        if (!offer_param(o, name, name_len, value, value_end, &seen)) return false;
    }
    return true;
}

bool ws_deflate_negotiate(const char *offers, struct ws_deflate_params *params, char *response,
                          size_t response_len)
{
    static const char token[] = "permessage-deflate";
    const char *p = offers;
    params->enabled = false;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *name = skip_space(p, end);
        const char *name_end = name;
        while (name_end < end && *name_end != ';' && *name_end != ' ' && *name_end != '\t')
            name_end++;
        struct offer o;
        if ((size_t)(name_end - name) == sizeof token - 1 &&
            strncasecmp(name, token, sizeof token - 1) == 0 && offer_parse(name_end, end, &o) &&
            o.server_max_window_bits != 8) {
            params->enabled = true;
            params->server_window_bits =
                (uint8_t)(o.server_max_window_bits ? o.server_max_window_bits : 15);
            char bits[40] = "";
            if (o.server_max_window_bits)
                snprintf(bits, sizeof bits, "; server_max_window_bits=%d",
                         o.server_max_window_bits);
            int n = snprintf(response, response_len,
                             "Sec-WebSocket-Extensions: permessage-deflate; "
                             "server_no_context_takeover; client_no_context_takeover%s\r\n",
                             bits);
            return n > 0 && (size_t)n < response_len;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

/* ---------------------------------------------------------------- compression */

void ws_deflate_ctx_init(struct ws_deflate_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
}

void ws_deflate_ctx_free(struct ws_deflate_ctx *ctx)
{
    if (ctx->inflater_ready) inflateEnd(&ctx->inflater);
    for (int i = 0; i < 7; i++)
        if (ctx->deflater_ready[i]) deflateEnd(&ctx->deflaters[i]);
    ws_deflate_ctx_init(ctx);
}

/* Runs inflate over in, appending to out. When out is full, one more byte of
 * output means the message is over the bound: inflating stops there. */
static int inflate_into(z_stream *z, const uint8_t *in, size_t len, buf *out)
{
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)len;
    for (;;) {
        size_t room = out->max - out->len;
        if (room > INFLATE_CHUNK) room = INFLATE_CHUNK;
        uint8_t probe;
        uint8_t *dst = room ? buf_reserve(out, room) : &probe;
        if (!dst) return -1011;
        size_t avail = room ? room : 1;
        z->next_out = dst;
        z->avail_out = (uInt)avail;
        int rc = inflate(z, Z_SYNC_FLUSH);
        size_t produced = avail - z->avail_out;
        if (!room && produced) return -1009;
        if (room) buf_advance(out, produced);
        if (rc == Z_STREAM_END || rc == Z_BUF_ERROR) return 0; /* done, or nothing more to do */
        if (rc != Z_OK) return -1007;
        if (z->avail_in == 0 && z->avail_out > 0) return 0;
    }
}

int ws_inflate_message(struct ws_deflate_ctx *ctx, const uint8_t *in, size_t len, buf *out)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    buf_reset(out);
    if (!ctx->inflater_ready) {
        if (inflateInit2(&ctx->inflater, -15) != Z_OK) return -1011;
        ctx->inflater_ready = true;
    } else if (inflateReset(&ctx->inflater) != Z_OK) {
        return -1011;
    }
    int rc = inflate_into(&ctx->inflater, in, len, out);
    return rc ? rc : inflate_into(&ctx->inflater, tail, sizeof tail, out);
}

int ws_deflate_message(struct ws_deflate_ctx *ctx, int window_bits, const uint8_t *in, size_t len,
                       buf *out)
{
    int slot = window_bits - 9;
    if (slot < 0 || slot > 6) return CHAT_E_INTERNAL;
    z_stream *z = &ctx->deflaters[slot];
    buf_reset(out);
    if (!ctx->deflater_ready[slot]) {
        if (deflateInit2(z, DEFLATE_LEVEL, Z_DEFLATED, -window_bits, DEFLATE_MEM_LEVEL,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return CHAT_E_NOMEM;
        ctx->deflater_ready[slot] = true;
    } else if (deflateReset(z) != Z_OK) {
        return CHAT_E_INTERNAL;
    }
    size_t bound = deflateBound(z, (uLong)len) + 8;
    uint8_t *dst = buf_reserve(out, bound);
    if (!dst) return CHAT_E_TOO_BIG;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)len;
    z->next_out = dst;
    z->avail_out = (uInt)bound;
    if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0) return CHAT_E_INTERNAL;
    size_t produced = bound - z->avail_out;
    /* §7.2.1: remove the 4 octets 00 00 ff ff that end a sync flush */
    if (produced < 4) return CHAT_E_INTERNAL;
    buf_advance(out, produced - 4);
    return 0;
}
