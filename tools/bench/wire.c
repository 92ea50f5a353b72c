/* The load generator's side of the wire, as pure functions over bytes: the
 * server's unmasked frames, the client's masked ones, and a scan of a server
 * message that finds what the generator needs (type, requestId, the send
 * time in the content, an error code) without parsing the JSON. */
#include "bench.h"

#include <string.h>

/* ---------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------- */

/* RFC 6455 §5.2: "The length of the "Payload data", in bytes: if 0-125, that
 * is the payload length. If 126, the following 2 bytes interpreted as a
 * 16-bit unsigned integer are the payload length. If 127, the following 8
 * bytes interpreted as a 64-bit unsigned integer [...]" */
enum bench_frame_result bench_frame_parse(const uint8_t *p, size_t n, struct bench_frame *f)
{
    if (n < 2) return FRAME_INCOMPLETE;
    if (p[1] & 0x80) return FRAME_BAD; /* a server must not mask */
    size_t header = 2;
    uint64_t len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4) return FRAME_INCOMPLETE;
        len = (uint64_t)p[2] << 8 | p[3];
        header = 4;
    } else if (len == 127) {
        if (n < 10) return FRAME_INCOMPLETE;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
        header = 10;
    }
    if (len > BENCH_MAX_SERVER_FRAME) return FRAME_BAD;
    if (n < header + len) return FRAME_INCOMPLETE;
    f->fin = p[0] & 0x80;
    f->opcode = p[0] & 0x0f;
    f->payload = p + header;
    f->len = (size_t)len;
    f->total = header + (size_t)len;
    return FRAME_OK;
}

/* RFC 6455 §5.3: "The masking key is a 32-bit value chosen at random by the
 * client." One key per connection is enough for a benchmark; what matters
 * is that the server pays for unmasking as it would for a browser. */
size_t bench_frame_build(uint8_t *out, uint8_t opcode, const uint8_t *payload, size_t len,
                         uint32_t mask)
{
    size_t h = 0;
    out[h++] = 0x80 | opcode;
    if (len < 126) {
        out[h++] = 0x80 | (uint8_t)len;
    } else if (len < 65536) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + h, &mask, 4);
    h += 4;
    /* Mask while copying, a word at a time: the key repeats every 4 bytes and
     * memcpy of the key kept its byte order. */
    uint8_t *dst = out + h;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t w;
        memcpy(&w, payload + i, 4);
        w ^= mask;
        memcpy(dst + i, &w, 4);
    }
    const uint8_t *key = (const uint8_t *)&mask;
    for (; i < len; i++) dst[i] = payload[i] ^ key[i & 3];
    return h + len;
}

size_t bench_u64_format(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

uint64_t bench_u64_parse(const uint8_t *p, size_t n, size_t *end)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && i < 20 && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (uint64_t)(p[i] - '0');
    *end = i;
    return v;
}

/* ---------------------------------------------------------------------------
 * Server messages
 * ------------------------------------------------------------------------- */

#define LIT(s) s, sizeof(s) - 1

static bool starts_with(const uint8_t *p, size_t n, const char *s, size_t len)
{
    return n >= len && memcmp(p, s, len) == 0;
}

static const struct {
    const char *name;
    size_t len;
    enum bench_reply_type type;
} reply_types[] = {
    {LIT("new_message"), REPLY_NEW_MESSAGE},
    {LIT("auth_success"), REPLY_AUTH_SUCCESS},
    {LIT("error"), REPLY_ERROR},
    {LIT("auth_error"), REPLY_AUTH_ERROR},
    {LIT("session_ended"), REPLY_SESSION_ENDED},
};

/* The string value after key (which includes its opening quote), e.g.
 * "code":" → rate_limited; false when absent or unterminated. */
static bool string_after(const uint8_t *p, size_t n, const char *key, size_t key_len,
                         const uint8_t **value, size_t *len)
{
    const uint8_t *k = memmem(p, n, key, key_len);
    if (!k) return false;
    const uint8_t *v = k + key_len;
    const uint8_t *q = memchr(v, '"', (size_t)(p + n - v));
    if (!q) return false;
    *value = v;
    *len = (size_t)(q - v);
    return true;
}

/* chatd writes every event as {"type":"…" first, then "requestId" when the
 * reply answers a request (src/proto/event.c event_begin), so both are found
 * at fixed places; only the content and the error code need a scan. */
void bench_reply_classify(const uint8_t *p, size_t n, struct bench_reply *r)
{
    memset(r, 0, sizeof *r);
    if (!starts_with(p, n, LIT("{\"type\":\""))) return;
    const uint8_t *type = p + 9;
    const uint8_t *q = memchr(type, '"', n - 9);
    if (!q) return;
    size_t type_len = (size_t)(q - type);
    for (size_t i = 0; i < sizeof reply_types / sizeof reply_types[0]; i++) {
        if (reply_types[i].len == type_len && memcmp(type, reply_types[i].name, type_len) == 0)
            r->type = reply_types[i].type;
    }
    if (r->type == REPLY_OTHER) return;
    const uint8_t *rest = q + 1;
    size_t rest_len = (size_t)(p + n - rest);
    r->has_request_id = starts_with(rest, rest_len, LIT(",\"requestId\":\""));
    if (r->type == REPLY_NEW_MESSAGE) {
        const uint8_t *t = memmem(rest, rest_len, LIT("\"content\":\"t="));
        size_t end;
        if (t) {
            t += sizeof("\"content\":\"t=") - 1;
            r->sent_ns = (int64_t)bench_u64_parse(t, (size_t)(p + n - t), &end);
        }
        /* "duplicate":true follows the message object, at the very end */
        size_t tail = rest_len < 32 ? rest_len : 32;
        r->duplicate = memmem(p + n - tail, tail, LIT("\"duplicate\":true")) != NULL;
    } else if (r->type == REPLY_ERROR || r->type == REPLY_AUTH_ERROR) {
        string_after(rest, rest_len, LIT("\"code\":\""), &r->code, &r->code_len);
    } else if (r->type == REPLY_SESSION_ENDED) {
        string_after(rest, rest_len, LIT("\"reason\":\""), &r->code, &r->code_len);
    }
}
