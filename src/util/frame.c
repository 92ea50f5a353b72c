/* Ref-counted WebSocket frames: see frame.h. */
#include "util/frame.h"

#include "ws/frame.h"

#include <stdlib.h>
#include <string.h>

struct frame *frame_new(int opcode, const void *payload, size_t len)
{
    uint8_t header[WS_MAX_HEADER];
    size_t header_len = ws_frame_header(header, (enum ws_opcode)opcode, len, false);
    struct frame *f = malloc(sizeof *f + header_len + len);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->len = (uint32_t)(header_len + len);
    memcpy(f->data, header, header_len);
    if (len) memcpy(f->data + header_len, payload, len);
    return f;
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
