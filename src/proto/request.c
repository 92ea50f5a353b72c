/* Field readers for client requests: see request.h. */
#include "proto/request.h"

#include "util/error.h"
#include "ws/utf8.h"

#include <string.h>

int proto_parse(const uint8_t *text, size_t len, json_t **root)
{
    json_error_t error;
    json_t *value = json_loadb((const char *)text, len, 0, &error);
    if (!value) return CHAT_E_INVALID_JSON;
    if (!json_is_object(value)) {
        json_decref(value);
        return CHAT_E_INVALID_JSON;
    }
    *root = value;
    return 0;
}

const char *proto_type(json_t *root)
{
    return json_string_value(json_object_get(root, "type"));
}

/* Code points in a (valid UTF-8) string: bytes that do not continue one. */
static size_t count_codepoints(const char *s, size_t len)
{
    return ws_utf8_codepoints((const uint8_t *)s, len);
}

int proto_request_id(json_t *root, char *out)
{
    out[0] = 0;
    json_t *value = json_object_get(root, "requestId");
    if (!value || json_is_null(value)) return 0;
    if (!json_is_string(value)) return CHAT_E_INVALID_REQUEST;
    size_t len = json_string_length(value);
    if (len > 4 * PROTO_REQUEST_ID_MAX ||
        count_codepoints(json_string_value(value), len) > PROTO_REQUEST_ID_MAX ||
        memchr(json_string_value(value), 0, len))
        return CHAT_E_INVALID_REQUEST;
    memcpy(out, json_string_value(value), len + 1);
    return 0;
}

int proto_id(json_t *root, const char *key, bool required, int64_t *out)
{
    *out = 0;
    json_t *value = json_object_get(root, key);
    if (!value || json_is_null(value)) return required ? CHAT_E_INVALID_REQUEST : 0;
    if (!json_is_string(value)) return CHAT_E_INVALID_REQUEST;
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);
    if (len == 0 || len > 19) return CHAT_E_INVALID_REQUEST;
    uint64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return CHAT_E_INVALID_REQUEST;
        id = id * 10 + (uint64_t)(s[i] - '0');
    }
    if (id == 0 || id > INT64_MAX) return CHAT_E_INVALID_REQUEST;
    *out = (int64_t)id;
    return 0;
}

int proto_short_string(json_t *root, const char *key, size_t max_chars, char *out)
{
    out[0] = 0;
    json_t *value = json_object_get(root, key);
    if (!value || json_is_null(value)) return 0;
    if (!json_is_string(value)) return CHAT_E_INVALID_REQUEST;
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);
    if (len > 4 * max_chars || count_codepoints(s, len) > max_chars || memchr(s, 0, len))
        return CHAT_E_INVALID_REQUEST;
    memcpy(out, s, len + 1);
    return 0;
}

static bool only_whitespace(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
        /* U+00A0, U+2000..U+200B, U+3000, U+FEFF also count as blank */
        if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] == 0xA0) {
            i++;
            continue;
        }
        if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] <= 0x8B || (unsigned char)s[i + 2] == 0xAF)) {
            i += 2;
            continue;
        }
        if (c == 0xE3 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] == 0x80) {
            i += 2;
            continue;
        }
        if (c == 0xEF && i + 2 < len && (unsigned char)s[i + 1] == 0xBB &&
            (unsigned char)s[i + 2] == 0xBF) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

int proto_content(json_t *root, int max_codepoints, const char **text, size_t *len)
{
    json_t *value = json_object_get(root, "content");
    if (!json_is_string(value)) return CHAT_E_INVALID_REQUEST;
    const char *s = json_string_value(value);
    size_t n = json_string_length(value);
    if (n == 0 || only_whitespace(s, n)) return CHAT_E_INVALID_REQUEST;
    if (memchr(s, 0, n)) return CHAT_E_INVALID_REQUEST;
    if (n > (size_t)max_codepoints && count_codepoints(s, n) > (size_t)max_codepoints)
        return CHAT_E_CONTENT_TOO_LONG;
    *text = s;
    *len = n;
    return 0;
}

int proto_limit(json_t *root, int default_limit, int max, int *out)
{
    json_t *value = json_object_get(root, "limit");
    if (!value || json_is_null(value)) {
        *out = default_limit;
        return 0;
    }
    if (!json_is_integer(value)) return CHAT_E_INVALID_REQUEST;
    json_int_t n = json_integer_value(value);
    if (n < 1 || n > max) return CHAT_E_INVALID_REQUEST;
    *out = (int)n;
    return 0;
}
