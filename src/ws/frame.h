/* The RFC 6455 frame codec of the server, with no I/O: a decoder that turns client bytes into
 * messages and control events (reassembling fragments, enforcing the protocol's rules and the
 * message bound), and encoders for the server's own unmasked frames. */
#ifndef CHATD_WS_FRAME_H
#define CHATD_WS_FRAME_H

#include "util/buf.h"
#include "ws/utf8.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_SERVER_ERROR = 1011,
    WS_CLOSE_TRY_AGAIN = 1013
};

#define WS_MAX_HEADER 10 /* server frames are unmasked: at most 2 + 8 bytes */
#define WS_MAX_CONTROL_PAYLOAD 125

enum ws_event_type { WS_EVENT_NONE, WS_EVENT_TEXT, WS_EVENT_PING, WS_EVENT_PONG, WS_EVENT_CLOSE };

typedef struct ws_event {
    enum ws_event_type type;
    const uint8_t *data; /* TEXT: the whole message; PING/PONG: payload; CLOSE: reason text */
    size_t len;
    uint16_t
        close_code;  /* CLOSE only: the peer's code, WS_CLOSE_NO_STATUS (1005) when it sent none */
    bool compressed; /* TEXT only: RSV1 was set on the first frame (permessage-deflate) */
} ws_event;

typedef struct ws_decoder {
    size_t max_message; /* MAX_FRAME_BYTES: bound on one frame's payload and on a reassembled
                           message */
    bool allow_rsv1; /* set once permessage-deflate is negotiated; false → RSV1 is a protocol error
                      */

    /* The fragmented message in progress, if any. The buffer holds storage only while one is
     * being reassembled, and is freed by the ws_decode call after the one that handed it out. */
    bool fragmented; /* a TEXT frame without FIN arrived and its final continuation has not */
    bool compressed; /* ... and it had RSV1: its UTF-8 is the caller's to check after inflating */
    ws_utf8 message_utf8; /* validator state at the end of the fragments received so far */
    buf message;          /* the fragments received so far, bounded by max_message */

    /* Fail-fast UTF-8 on a frame that has not fully arrived: how much of its payload has been
     * checked, and the validator state after those bytes (so each byte is checked once). */
    size_t frame_checked;
    ws_utf8 frame_utf8;
} ws_decoder;

/* Prepares a decoder; allocates nothing. allow_rsv1 starts false. */
void ws_decoder_init(ws_decoder *d, size_t max_message);

/* Frees any reassembly buffer; accepts a zeroed decoder. */
void ws_decoder_free(ws_decoder *d);

/* Decodes at most one frame from input[0..len), which must start at a frame boundary.
 * Unmasks the payload in place (input is mutable). Sets *consumed to the bytes used: 0 means the
 * frame is not complete yet (call again with the same bytes and more; input was not changed, the
 * decoder only remembers how much of the partial payload it has already validated).
 * ev->type is WS_EVENT_NONE when a frame was consumed without completing an event (a non-final
 * fragment). ev->data points into input (single-frame message, control frames) or into the
 * decoder's reassembly buffer; it stays valid until the next ws_decode/ws_decoder_free call.
 * Returns 0, or the NEGATED close code the server must close with (then *consumed is 0, the
 * event is WS_EVENT_NONE, and the decoder must not be used again except to free it):
 *   -1002: unmasked frame, RSV bits set without allow_rsv1 (RSV2/RSV3 always), reserved opcode
 *          (3-7, 0xB-0xF), control frame with FIN=0 or payload > 125, continuation with nothing to
 *          continue, a new TEXT/BINARY while a fragmented message is in progress, close payload of
 *          1 byte, invalid close code (valid: 1000-1003, 1007-1014, 3000-4999), 64-bit length with
 *          the top bit set; a non-minimal length encoding is accepted;
 *   -1003: a binary message (BINARY opcode; chatd speaks only text);
 *   -1007: invalid UTF-8 in a text message (checked incrementally across fragments and within a
 *          frame still arriving: fail fast) or in a close reason;
 *   -1009: a data frame's payload over max_message (detected from the header, before the payload
 *          arrives), or a reassembled message that would pass max_message;
 *   -1011: no memory for the reassembly buffer.
 * RSV1 with allow_rsv1 is allowed only on the first frame of a data message (not on continuation
 * or control frames → -1002); when set, the message is reported compressed and UTF-8 is NOT
 * validated here (the caller inflates first and validates then). */
int ws_decode(ws_decoder *d, uint8_t *input, size_t len, size_t *consumed, ws_event *ev);

/* Writes the header of a final, unmasked server frame for a payload of len bytes; returns its
 * size (2, 4 or 10). rsv1 marks a compressed message. */
size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], enum ws_opcode opcode, size_t len, bool rsv1);

/* Writes a complete close frame (header + 2-byte code + reason truncated to fit 125 bytes, on a
 * UTF-8 boundary) into out; returns its size. out needs 2 + 125 bytes. reason is valid UTF-8 or
 * NULL (no reason); code is one that may be sent (not 1005, 1006 or 1015). */
size_t ws_close_frame(uint8_t out[2 + WS_MAX_CONTROL_PAYLOAD], uint16_t code, const char *reason);

#endif
