/* Reading and validating the fields of client requests (protocol §2, §7).
 * A request is parsed once with cJSON; these readers turn its fields into C
 * values, each failure a CHAT_E_* code the reply names. A field that appears
 * twice in one request is invalid_request. */
#ifndef CHATD_PROTO_REQUEST_H
#define CHATD_PROTO_REQUEST_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_REQUEST_ID_MAX 64 /* code points */
#define PROTO_REQUEST_ID_BYTES (4 * PROTO_REQUEST_ID_MAX + 1)

/* Parses one text message (valid UTF-8). 0 and *root (the caller frees it
 * with cJSON_Delete), or CHAT_E_INVALID_JSON when it is not exactly one JSON
 * object. *has_nul tells whether a string holds an escaped NUL (\u0000),
 * which cJSON cuts short: such a request must be refused, not read. */
int proto_parse(const uint8_t *text, size_t len, cJSON **root, bool *has_nul);

/* Finds the field key: 0 with *out NULL when absent, CHAT_E_INVALID_REQUEST
 * when it appears more than once. */
int proto_field(const cJSON *root, const char *key, const cJSON **out);

/* The request's type: CHAT_E_INVALID_REQUEST when missing or not a string. */
int proto_type(const cJSON *root, const char **type);

/* Copies requestId into out (PROTO_REQUEST_ID_BYTES): 0 with out
 * "" when absent, CHAT_E_INVALID_REQUEST when not a string of ≤ 64 code
 * points. */
int proto_request_id(const cJSON *root, char *out);

/* An id field (protocol §2: a JSON string of decimal digits, 1..INT64_MAX).
 * Absent: *out = 0, and CHAT_E_INVALID_REQUEST only when required. */
int proto_id(const cJSON *root, const char *key, bool required, int64_t *out);

/* An optional string of at most max_chars code points, copied into out
 * (which must hold 4 * max_chars + 1 bytes); "" when absent. */
int proto_short_string(const cJSON *root, const char *key, size_t max_chars, char *out);

/* The content of a content-bearing request (protocol §7): a string of
 * 1..max_codepoints code points, not only white space. CHAT_E_INVALID_REQUEST
 * or CHAT_E_CONTENT_TOO_LONG. *text points into root. */
int proto_content(const cJSON *root, int max_codepoints, const char **text, size_t *len);

/* An optional integer "limit" in 1..max (default_limit when absent). */
int proto_limit(const cJSON *root, int default_limit, int max, int *out);

#endif
