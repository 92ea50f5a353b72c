/* UTF-8 validation for WebSocket text messages and close reasons: an incremental
 * validator that can be fed a message in pieces and fails at the first byte that
 * cannot lead to valid UTF-8, and a code-point counter for content limits. */
#ifndef CHATD_WS_UTF8_H
#define CHATD_WS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validator state; a plain value, no allocation, copy it freely. */
typedef struct ws_utf8 {
    uint32_t state;
} ws_utf8;

/* Starts a new validation (nothing fed yet counts as complete). */
void ws_utf8_init(ws_utf8 *v);

/* Feeds n bytes; false as soon as the bytes seen so far cannot be the start of valid UTF-8
 * (fail fast), and false on every later call too. */
bool ws_utf8_feed(ws_utf8 *v, const uint8_t *p, size_t n);

/* True when everything fed so far is valid and ends on a character boundary. */
bool ws_utf8_complete(const ws_utf8 *v);

/* Whole-buffer validation. */
bool ws_utf8_valid(const uint8_t *p, size_t n);

/* Number of code points in n bytes of valid UTF-8 (the result is meaningless for invalid input:
 * it counts the bytes that are not continuation bytes). */
size_t ws_utf8_codepoints(const uint8_t *p, size_t n);

#endif
