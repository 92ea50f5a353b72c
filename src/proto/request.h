/* Reading and validating the fields of client requests (protocol §2, §7).
 * A request is parsed once with jansson; these readers turn its fields into
 * C values, each failure a CHAT_E_* code the reply names. */
#ifndef CHATD_PROTO_REQUEST_H
#define CHATD_PROTO_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_REQUEST_ID_MAX 64

/* Parses one text message. 0 and *root (caller json_decref's), or
 * CHAT_E_INVALID_JSON when it is not a JSON object. */
int proto_parse(const uint8_t *text, size_t len, json_t **root);

/* The request's type string, or NULL when "type" is missing or not a string. */
const char *proto_type(json_t *root);

/* Copies requestId into out (PROTO_REQUEST_ID_MAX + 1 bytes): 0 with out ""
 * when absent, CHAT_E_INVALID_REQUEST when not a string of ≤ 64 characters. */
int proto_request_id(json_t *root, char *out);

/* An id field (protocol §2: a JSON string of decimal digits, 1..INT64_MAX).
 * Absent: *out = 0, and CHAT_E_INVALID_REQUEST only when required. */
int proto_id(json_t *root, const char *key, bool required, int64_t *out);

/* An optional string of at most max_chars code points, copied into out
 * (which must hold 4 * max_chars + 1 bytes); "" when absent. */
int proto_short_string(json_t *root, const char *key, size_t max_chars, char *out);

/* The content of a content-bearing request (protocol §7): a string of
 * 1..max_codepoints code points, not only whitespace. CHAT_E_INVALID_REQUEST
 * or CHAT_E_CONTENT_TOO_LONG. *text points into root. */
int proto_content(json_t *root, int max_codepoints, const char **text, size_t *len);

/* An optional positive integer "limit", at most max (default when absent). */
int proto_limit(json_t *root, int default_limit, int max, int *out);

#endif
