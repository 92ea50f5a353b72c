/* A small streaming JSON writer for server events: appends escaped JSON to a bounded buffer,
 * places commas itself, and allocates nothing beyond the buffer. Errors are sticky: write the
 * whole document, then check jw_finish once. */
#ifndef CHATD_PROTO_JSON_WRITER_H
#define CHATD_PROTO_JSON_WRITER_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 31 /* nested objects/arrays; deeper is CHAT_E_TOO_BIG */

typedef struct json_writer {
    buf *out;  /* not owned */
    int depth; /* open objects/arrays */
    bool need_comma[JW_MAX_DEPTH + 1];
    int error; /* first error, sticky */
} json_writer;

/* Starts writing at the end of out (the caller keeps ownership of out). */
void jw_init(json_writer *w, buf *out);

void jw_object_begin(json_writer *w);
void jw_object_end(json_writer *w);
void jw_array_begin(json_writer *w);
void jw_array_end(json_writer *w);

/* Writes an object key; the next value is its value. key is a trusted ASCII literal: it is
 * not escaped. */
void jw_key(json_writer *w, const char *key);

/* Writes a string; NULL writes null. */
void jw_string(json_writer *w, const char *s);

/* Writes n bytes of valid UTF-8 (validated upstream) as a string: escapes '"', '\\', control
 * characters (\n \t \r \b \f, the others as \u00XX) and U+2028/U+2029 (so the output is also
 * valid JavaScript); every other byte passes through as is. */
void jw_string_n(json_writer *w, const char *s, size_t n);

void jw_int(json_writer *w, int64_t v);

/* Writes an id as a string of decimal digits (protocol §2); 0 (no id) writes null. A negative
 * id is a caller bug: CHAT_E_INTERNAL. */
void jw_id(json_writer *w, int64_t id);

void jw_bool(json_writer *w, bool v);
void jw_null(json_writer *w);

/* Writes a Unix time in milliseconds as ISO-8601 UTC with milliseconds,
 * "2026-11-29T12:00:00.000Z"; 0 (no time) writes null. Years outside 0000..9999 are
 * CHAT_E_INTERNAL. */
void jw_time_ms(json_writer *w, int64_t epoch_ms);

/* Writes n bytes of pre-encoded JSON as one value (trusted, not checked). */
void jw_raw(json_writer *w, const char *json, size_t n);

/* 0, or the first error: CHAT_E_TOO_BIG (buffer bound or nesting), CHAT_E_NOMEM, or
 * CHAT_E_INTERNAL (misuse: an end without a begin, unclosed objects/arrays, see above). */
int jw_finish(json_writer *w);

#endif
