/* Ref-counted WebSocket frames: see frame.h. */
#include "util/frame.h"

#include "ws/frame.h"

#include <stdlib.h>
#include <string.h>

static struct frame *frame_build(int opcode, bool rsv1, const void *payload, size_t len)
{
    uint8_t header[WS_MAX_HEADER];
    size_t header_len = ws_frame_header(header, (enum ws_opcode)opcode, len, rsv1);
    struct frame *f = malloc(sizeof *f + header_len + len);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->len = (uint32_t)(header_len + len);
    memcpy(f->data, header, header_len);
    if (len) memcpy(f->data + header_len, payload, len);
    return f;
}

struct frame *frame_new(int opcode, const void *payload, size_t len)
{
    return frame_build(opcode, false, payload, len);
}

struct frame *frame_deflated(const void *payload, size_t len)
{
    return frame_build(WS_OP_TEXT, true, payload, len);
}

const uint8_t *frame_payload(const struct frame *f, size_t *len)
{
    /* server frames are unmasked: 2 header bytes, plus 2 or 8 of length */
    uint8_t short_len = f->data[1] & 0x7f;
    size_t header = short_len == 127 ? 10 : short_len == 126 ? 4 : 2;
    *len = f->len - header;
    return f->data + header;
}

int frame_opcode(const struct frame *f)
{
    return f->data[0] & 0x0f;
}

struct frame *frame_raw(const void *bytes, size_t len)
{
    struct frame *f = malloc(sizeof *f + len);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->len = (uint32_t)len;
    memcpy(f->data, bytes, len);
    return f;
}

struct frame *frame_text(const void *payload, size_t len)
{
    return frame_new(WS_OP_TEXT, payload, len);
}

void frame_unref(struct frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) free(f);
}
