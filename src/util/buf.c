/* Bounded growable buffers: see buf.h. */
#include "util/buf.h"

#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

void buf_init(buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_free(buf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

uint8_t *buf_reserve(buf *b, size_t n)
{
    if (n > b->max - b->len) return NULL;
    size_t need = b->len + n + 1; /* room for a terminating NUL */
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
        while (cap < need) cap *= 2;
        if (cap > b->max + 1) cap = b->max + 1;
        uint8_t *data = realloc(b->data, cap);
        if (!data) return NULL;
        b->data = data;
        b->cap = cap;
    }
    return b->data + b->len;
}

void buf_advance(buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = 0;
}

int buf_append_grow(buf *b, const void *data, size_t n)
{
    if (n > b->max - b->len) return CHAT_E_TOO_BIG;
    uint8_t *dst = buf_reserve(b, n);
    if (!dst) return CHAT_E_NOMEM;
    if (n) memcpy(dst, data, n);
    buf_advance(b, n);
    return 0;
}

int buf_append_str(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_append_byte(buf *b, uint8_t c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return CHAT_E_INTERNAL;
    if ((size_t)n > b->max - b->len) return CHAT_E_TOO_BIG;
    uint8_t *dst = buf_reserve(b, (size_t)n);
    if (!dst) return CHAT_E_NOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_consume(buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
}

uint8_t *buf_detach(buf *b, size_t *len)
{
    uint8_t *data = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}
