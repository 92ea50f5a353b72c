/* libFuzzer target for the WebSocket frame decoder (src/ws/frame.c): every input is decoded twice,
 * all at once and in chunks whose size the input picks, and both runs must agree on every event
 * and on the close code; events must also keep the codec's promises (valid UTF-8, valid close
 * codes, bounds). Not part of the build. Build and run from the repository root with:
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/ws_frame_fuzz.c src/ws/frame.c src/ws/utf8.c src/util/buf.c src/util/error.c \
 *       -o build/ws_frame_fuzz
 *   mkdir -p build/ws_frame_corpus && build/ws_frame_fuzz -max_total_time=300 build/ws_frame_corpus
 *
 * Input layout: byte 0 holds the options (bit 0: allow_rsv1, bit 1: a 64-byte max_message instead
 * of 65536), byte 1 the chunk size (1..256), the rest is the client byte stream. */
#include "ws/frame.h"
#include "ws/utf8.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a run produced: the close code it ended with, the bytes it consumed, and a hash of every
 * event in order. */
struct outcome {
    int rc;
    size_t consumed;
    uint64_t hash;
};

static uint64_t mix(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL; /* FNV-1a */
    return h;
}

/* Checks the promises of one event and folds it into the hash. */
static uint64_t absorb(uint64_t h, const ws_decoder *d, const ws_event *ev)
{
    if (ev->type == WS_EVENT_NONE) return h;
    switch (ev->type) {
    case WS_EVENT_TEXT:
        if (ev->len > d->max_message) abort();
        if (!ev->compressed && !ws_utf8_valid(ev->data, ev->len)) abort();
        if (ev->compressed && !d->allow_rsv1) abort();
        break;
    case WS_EVENT_PING:
    case WS_EVENT_PONG:
        if (ev->len > WS_MAX_CONTROL_PAYLOAD) abort();
        break;
    case WS_EVENT_CLOSE:
        if (ev->len > WS_MAX_CONTROL_PAYLOAD - 2) abort();
        if (ev->close_code == WS_CLOSE_NO_STATUS ? ev->len != 0 : ev->close_code < 1000) abort();
        if (!ws_utf8_valid(ev->data, ev->len)) abort();
        break;
    default:
        abort();
    }
    uint8_t fields[4] = {(uint8_t)ev->type, (uint8_t)ev->compressed, (uint8_t)(ev->close_code >> 8),
                         (uint8_t)ev->close_code};
    h = mix(h, fields, sizeof fields);
    return mix(h, ev->data, ev->len);
}

static struct outcome run(const uint8_t *input, size_t n, size_t chunk, size_t max_message,
                          bool allow_rsv1)
{
    struct outcome out = {0, 0, 0xcbf29ce484222325ULL};
    ws_decoder d;
    ws_decoder_init(&d, max_message);
    d.allow_rsv1 = allow_rsv1;
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, input, n);
    size_t have = 0;
    while (have < n && out.rc == 0) {
        have = n - have < chunk ? n : have + chunk;
        for (;;) {
            size_t consumed;
            ws_event ev;
            out.rc = ws_decode(&d, copy + out.consumed, have - out.consumed, &consumed, &ev);
            if (out.rc != 0 || consumed == 0) break;
            out.hash = absorb(out.hash, &d, &ev);
            out.consumed += consumed;
        }
    }
    ws_decoder_free(&d);
    free(copy);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    bool allow_rsv1 = data[0] & 1;
    size_t max_message = (data[0] & 2) ? 64 : 65536;
    size_t chunk = (size_t)data[1] + 1;
    struct outcome whole = run(data + 2, size - 2, size, max_message, allow_rsv1);
    struct outcome chunked = run(data + 2, size - 2, chunk, max_message, allow_rsv1);
    if (whole.rc != chunked.rc || whole.consumed != chunked.consumed || whole.hash != chunked.hash)
        abort();
    return 0;
}
