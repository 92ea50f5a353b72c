/* The RFC 6455 frame codec: see frame.h. The decoder parses a frame header incrementally so that
 * every rule is enforced as soon as the bytes it needs have arrived, and the payload is only
 * touched (unmasked, copied) once the whole frame is there. */
#include "ws/frame.h"

#include <string.h>

#define FIN_BIT 0x80
#define RSV1_BIT 0x40
#define RSV2_RSV3_BITS 0x30
#define OPCODE_BITS 0x0F
#define CONTROL_BIT 0x08
#define MASK_BIT 0x80
#define LENGTH_BITS 0x7F
#define LENGTH_16 126
#define LENGTH_64 127
#define MASK_KEY_LEN 4

/* Everything the header of one client frame says. */
struct frame {
    bool fin;
    bool rsv1;
    uint8_t opcode;
    size_t header_len;  /* 2 + extended length + masking key */
    size_t payload_len; /* fits size_t: bounded by max_message or 125 before it is stored */
    uint8_t mask[MASK_KEY_LEN];
};

static bool is_control(uint8_t opcode)
{
    /* "Control frames are identified by opcodes where the most significant bit of the opcode
     * is 1." */
    return opcode & CONTROL_BIT;
}

/* ---------------------------------------------------------------------------------------------
 * Header parsing */

/* The rules that the first byte alone decides. */
static int check_first_byte(const ws_decoder *d, uint8_t b, struct frame *f)
{
    f->fin = b & FIN_BIT;
    f->rsv1 = b & RSV1_BIT;
    f->opcode = b & OPCODE_BITS;

    /* "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an extension is negotiated that defines
     * meanings for non-zero values." The only extension chatd speaks, permessage-deflate, defines
     * RSV1 alone. */
    if (b & RSV2_RSV3_BITS) return -WS_CLOSE_PROTOCOL_ERROR;

    /* "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
     * Connection_." */
    switch (f->opcode) {
    case WS_OP_CONTINUATION:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        break;
    default:
        return -WS_CLOSE_PROTOCOL_ERROR;
    }

    if (is_control(f->opcode)) {
        /* "Control frames themselves MUST NOT be fragmented." (RFC 6455 §5.4), and RFC 7692 §6:
         * "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames". */
        if (!f->fin || f->rsv1) return -WS_CLOSE_PROTOCOL_ERROR;
        return 0;
    }

    /* RFC 7692 §6: the "Per-Message Compressed" bit is set on the first frame of a message only:
     * "An endpoint MUST NOT set the "Per-Message Compressed" bit of [...] non-first fragments of
     * a data message." */
    if (f->rsv1 && (!d->allow_rsv1 || f->opcode == WS_OP_CONTINUATION))
        return -WS_CLOSE_PROTOCOL_ERROR;

    /* "The fragments of one message MUST NOT be interleaved between the fragments of another
     * message unless an extension has been negotiated that can interpret the interleaving." A
     * continuation needs a message to continue, and a new message needs the last one finished. */
    if ((f->opcode == WS_OP_CONTINUATION) != d->fragmented) return -WS_CLOSE_PROTOCOL_ERROR;

    /* chatd speaks JSON in text frames only (protocol §1: "A binary frame closes with 1003"). */
    if (f->opcode == WS_OP_BINARY) return -WS_CLOSE_UNSUPPORTED;
    return 0;
}

/* The rules that the second byte decides; sets the header length. */
static int check_second_byte(const struct frame *f, uint8_t b, size_t *header_len)
{
    /* "The server MUST close the connection upon receiving a frame that is not masked. In this
     * case, a server MAY send a Close frame with a status code of 1002 (protocol error)" */
    if (!(b & MASK_BIT)) return -WS_CLOSE_PROTOCOL_ERROR;

    /* "All control frames MUST have a payload length of 125 bytes or less" */
    uint8_t length7 = b & LENGTH_BITS;
    if (is_control(f->opcode) && length7 > WS_MAX_CONTROL_PAYLOAD) return -WS_CLOSE_PROTOCOL_ERROR;

    size_t extended = length7 == LENGTH_16 ? 2 : length7 == LENGTH_64 ? 8 : 0;
    *header_len = 2 + extended + MASK_KEY_LEN;
    return 0;
}

/* Checks a data frame's payload length against the bound, before any payload arrives. */
static int check_length(const ws_decoder *d, const struct frame *f, uint64_t length)
{
    if (is_control(f->opcode)) return 0; /* bounded at 125 by check_second_byte */
    if (length > d->max_message) return -WS_CLOSE_TOO_BIG;
    if (d->fragmented && length > d->max_message - d->message.len) return -WS_CLOSE_TOO_BIG;
    return 0;
}

/* Parses the frame header at the start of input: returns 1 when it is complete (f is filled in),
 * 0 when more bytes are needed, or a negated close code as soon as the bytes seen break a rule. */
static int parse_header(const ws_decoder *d, const uint8_t *input, size_t len, struct frame *f)
{
    if (len < 1) return 0;
    int rc = check_first_byte(d, input[0], f);
    if (rc != 0 || len < 2) return rc;
    rc = check_second_byte(f, input[1], &f->header_len);
    if (rc != 0) return rc;

    /* "Payload length: 7 bits, 7+16 bits, or 7+64 bits [...] if 0-125, that is the payload
     * length. If 126, the following 2 bytes interpreted as a 16-bit unsigned integer are the
     * payload length. If 127, the following 8 bytes interpreted as a 64-bit unsigned integer (the
     * most significant bit MUST be 0) are the payload length. Multibyte length quantities are
     * expressed in network byte order."
     * The RFC also asks for the minimal encoding; chatd accepts a longer one, which is
     * unambiguous and harmless, as most servers do. */
    size_t extended = f->header_len - 2 - MASK_KEY_LEN;
    if (len < 2 + extended) return 0;
    uint64_t length = input[1] & LENGTH_BITS;
    if (extended > 0) {
        length = 0;
        for (size_t i = 0; i < extended; i++) length = length << 8 | input[2 + i];
    }
    if (extended == 8 && (length >> 63) != 0) return -WS_CLOSE_PROTOCOL_ERROR;
    rc = check_length(d, f, length);
    if (rc != 0) return rc;
    f->payload_len = (size_t)length;

    if (len < f->header_len) return 0;
    memcpy(f->mask, input + 2 + extended, MASK_KEY_LEN);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Payload */

/* "Octet i of the transformed data ("transformed-octet-i") is the XOR of octet i of the original
 * data ("original-octet-i") with octet at index i modulo 4 of the masking key
 * ("masking-key-octet-j")" */
static void unmask(uint8_t *p, size_t n, const uint8_t mask[MASK_KEY_LEN], size_t offset)
{
    for (size_t i = 0; i < n; i++) p[i] ^= mask[(offset + i) % MASK_KEY_LEN];
}

/* Whether this data frame's payload is UTF-8 that the decoder validates: text that is not
 * compressed (a compressed message is validated by the caller once inflated). */
static bool frame_is_checked_text(const ws_decoder *d, const struct frame *f)
{
    if (f->opcode == WS_OP_TEXT) return !f->rsv1;
    return f->opcode == WS_OP_CONTINUATION && !d->compressed;
}

/* Validates the payload bytes [frame_checked, n) of a text frame, unmasking a copy so that a
 * frame still arriving is left untouched, and remembers how far it got: each byte is checked once
 * however the frame is split, and invalid UTF-8 is reported before the frame has fully arrived.
 * RFC 6455 §5.6: "a particular text frame might include a partial UTF-8 sequence; however, the
 * whole message MUST contain valid UTF-8", so a fragment starts from the state the previous
 * fragments left. */
static int check_text(ws_decoder *d, const struct frame *f, const uint8_t *payload, size_t n)
{
    if (d->frame_checked == 0) {
        if (f->opcode == WS_OP_TEXT)
            ws_utf8_init(&d->frame_utf8);
        else
            d->frame_utf8 = d->message_utf8;
    }
    uint8_t chunk[256];
    while (d->frame_checked < n) {
        size_t k = n - d->frame_checked;
        if (k > sizeof chunk) k = sizeof chunk;
        memcpy(chunk, payload + d->frame_checked, k);
        unmask(chunk, k, f->mask, d->frame_checked);
        /* RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that
         * the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
         * WebSocket Connection_." */
        if (!ws_utf8_feed(&d->frame_utf8, chunk, k)) return -WS_CLOSE_INVALID_DATA;
        d->frame_checked += k;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Complete frames */

/* Whether a peer may send this close code (RFC 6455 §7.4.1, and the IANA registry's 1012-1014;
 * 1004-1006 and 1015 are reserved, 3000-3999 belong to libraries and 4000-4999 to
 * applications). */
static bool close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int decode_close(const uint8_t *payload, size_t n, ws_event *ev)
{
    /* "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer (in
     * network byte order) representing a status code with value /code/ defined in Section 7.4.
     * Following the 2-byte integer, the body MAY contain UTF-8-encoded data with value
     * /reason/" */
    ev->type = WS_EVENT_CLOSE;
    if (n == 0) {
        ev->close_code = WS_CLOSE_NO_STATUS;
        ev->data = payload;
        ev->len = 0;
        return 0;
    }
    if (n == 1) return -WS_CLOSE_PROTOCOL_ERROR;
    uint16_t code = (uint16_t)(payload[0] << 8 | payload[1]);
    if (!close_code_valid(code)) return -WS_CLOSE_PROTOCOL_ERROR;
    if (!ws_utf8_valid(payload + 2, n - 2)) return -WS_CLOSE_INVALID_DATA;
    ev->close_code = code;
    ev->data = payload + 2;
    ev->len = n - 2;
    return 0;
}

static int decode_control(const struct frame *f, const uint8_t *payload, ws_event *ev)
{
    if (f->opcode == WS_OP_CLOSE) return decode_close(payload, f->payload_len, ev);
    ev->type = f->opcode == WS_OP_PING ? WS_EVENT_PING : WS_EVENT_PONG;
    ev->data = payload;
    ev->len = f->payload_len;
    return 0;
}

/* A text frame or continuation (binary frames were refused from the header). */
static int decode_data(ws_decoder *d, const struct frame *f, const uint8_t *payload, ws_event *ev)
{
    bool validate = frame_is_checked_text(d, f);

    if (f->opcode == WS_OP_TEXT && f->fin) {
        /* An unfragmented message: hand out the payload where it lies, no copy. */
        if (validate && !ws_utf8_complete(&d->frame_utf8)) return -WS_CLOSE_INVALID_DATA;
        ev->type = WS_EVENT_TEXT;
        ev->data = payload;
        ev->len = f->payload_len;
        ev->compressed = f->rsv1;
        return 0;
    }

    if (f->opcode == WS_OP_TEXT) {
        /* The first fragment; the buffer was freed at the top of ws_decode. */
        d->fragmented = true;
        d->compressed = f->rsv1;
        buf_init(&d->message, d->max_message);
    }
    /* The length was checked against the room left, so only memory can run out. */
    if (buf_append(&d->message, payload, f->payload_len) != 0) return -WS_CLOSE_SERVER_ERROR;
    if (validate) d->message_utf8 = d->frame_utf8;
    if (!f->fin) return 0;

    d->fragmented = false;
    if (validate && !ws_utf8_complete(&d->message_utf8)) return -WS_CLOSE_INVALID_DATA;
    ev->type = WS_EVENT_TEXT;
    ev->data = d->message.data;
    ev->len = d->message.len;
    ev->compressed = d->compressed;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Decoder */

void ws_decoder_init(ws_decoder *d, size_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message;
    buf_init(&d->message, max_message);
    ws_utf8_init(&d->message_utf8);
    ws_utf8_init(&d->frame_utf8);
}

void ws_decoder_free(ws_decoder *d)
{
    buf_free(&d->message);
    d->fragmented = false;
    d->frame_checked = 0;
}

int ws_decode(ws_decoder *d, uint8_t *input, size_t len, size_t *consumed, ws_event *ev)
{
    *consumed = 0;
    *ev = (ws_event){.type = WS_EVENT_NONE};

    /* A message reassembled by the previous call has been handed out: its storage goes now, so
     * that an idle connection holds none. */
    if (!d->fragmented) buf_free(&d->message);

    struct frame f;
    int rc = parse_header(d, input, len, &f);
    if (rc <= 0) return rc;

    uint8_t *payload = input + f.header_len;
    size_t available = len - f.header_len;
    bool complete = available >= f.payload_len;
    if (frame_is_checked_text(d, &f)) {
        rc = check_text(d, &f, payload, complete ? f.payload_len : available);
        if (rc != 0) return rc;
    }
    if (!complete) return 0;

    d->frame_checked = 0;
    unmask(payload, f.payload_len, f.mask, 0);
    rc = is_control(f.opcode) ? decode_control(&f, payload, ev) : decode_data(d, &f, payload, ev);
    if (rc != 0) {
        *ev = (ws_event){.type = WS_EVENT_NONE};
        return rc;
    }
    *consumed = f.header_len + f.payload_len;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Encoder */

size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], enum ws_opcode opcode, size_t len, bool rsv1)
{
    /* "A server MUST NOT mask any frames that it sends to the client." */
    out[0] = (uint8_t)(FIN_BIT | (rsv1 ? RSV1_BIT : 0) | opcode);
    if (len <= WS_MAX_CONTROL_PAYLOAD) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= UINT16_MAX) {
        out[1] = LENGTH_16;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = LENGTH_64;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

size_t ws_close_frame(uint8_t out[2 + WS_MAX_CONTROL_PAYLOAD], uint16_t code, const char *reason)
{
    size_t room = WS_MAX_CONTROL_PAYLOAD - 2;
    size_t reason_len = reason ? strlen(reason) : 0;
    if (reason_len > room) {
        /* Cut before the character that does not fit whole: back up over its UTF8-tail bytes
         * (10xxxxxx) to its first byte. */
        reason_len = room;
        while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xC0) == 0x80) reason_len--;
    }
    size_t n = ws_frame_header(out, WS_OP_CLOSE, 2 + reason_len, false);
    out[n++] = (uint8_t)(code >> 8);
    out[n++] = (uint8_t)code;
    if (reason_len > 0) memcpy(out + n, reason, reason_len);
    return n + reason_len;
}
