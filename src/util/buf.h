/* A growable byte buffer with a hard maximum (in the manner of curl's dynbuf):
 * every append checks the bound in one place, so no caller can grow a buffer
 * past the limit it was created with. */
#ifndef CHATD_UTIL_BUF_H
#define CHATD_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct buf {
    uint8_t *data; /* NUL-terminated when len < cap; NULL until the first append */
    size_t len;
    size_t cap; /* never more than max + 1 */
    size_t max; /* the hard bound on len */
} buf;

/* Prepares an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(buf *b, size_t max);

/* Frees the storage; b may be re-used after buf_init. Accepts an unused buffer. */
void buf_free(buf *b);

/* Empties the buffer but keeps its storage. */
void buf_reset(buf *b);

/* Appends n bytes: 0, CHAT_E_TOO_BIG past the bound, CHAT_E_NOMEM. */
int buf_append_grow(buf *b, const void *data, size_t n);

/* The JSON writer appends a few bytes at a time, so the common case (room
 * left) is inlined: len + n < cap <= max + 1 keeps the bound. */
static inline int buf_append(buf *b, const void *data, size_t n)
{
    if (n >= b->cap - b->len) return buf_append_grow(b, data, n);
    if (n) memcpy(b->data + b->len, data, n); /* data may be NULL when n is 0 */
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}
int buf_append_str(buf *b, const char *s);
int buf_append_byte(buf *b, uint8_t c);

/* Appends formatted text (printf rules); same results as buf_append. */
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for n more bytes and returns where they go (commit with
 * buf_advance), or NULL when that would pass the bound or memory ran out. */
uint8_t *buf_reserve(buf *b, size_t n);
void buf_advance(buf *b, size_t n);

/* Removes the first n bytes, moving the rest to the front. */
void buf_consume(buf *b, size_t n);

/* Takes the storage out of the buffer (caller frees it) and leaves b empty. */
uint8_t *buf_detach(buf *b, size_t *len);

#endif
