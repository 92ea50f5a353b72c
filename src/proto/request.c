/* Field readers for client requests: see request.h. Requests are parsed with
 * cJSON, which is 6× faster than jansson here (docs/architecture.md) but
 * lenient, so the strictness it lacks is added in this file: trailing bytes,
 * escaped NULs and repeated keys are refused. Its input has already passed
 * the WebSocket layer's UTF-8 validation. */
#include "proto/request.h"

#include "util/error.h"
#include "ws/utf8.h"

#include <math.h>
#include <string.h>

/* True when text holds "\u0000" as an escape (an odd run of backslashes
 * before the u): cJSON would silently cut the string there. Most requests
 * have no backslash at all, which memchr finds out fastest. */
static bool has_escaped_nul(const uint8_t *text, size_t len)
{
    const uint8_t *p = text, *end = text + len;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        const uint8_t *run = p;
        while (p < end && *p == '\\') p++;
        if ((p - run) % 2 == 1 && end - p >= 5 && memcmp(p, "u0000", 5) == 0) return true;
    }
    return false;
}

int proto_parse(const uint8_t *text, size_t len, cJSON **root, bool *has_nul)
{
    const char *end = NULL;
    *has_nul = has_escaped_nul(text, len);
    cJSON *value = cJSON_ParseWithLengthOpts((const char *)text, len, &end, false);
    if (!value) return CHAT_E_INVALID_JSON;
    /* only whitespace may follow the value */
    for (const char *p = end; p < (const char *)text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(value);
            return CHAT_E_INVALID_JSON;
        }
    }
    if (!cJSON_IsObject(value)) {
        cJSON_Delete(value);
        return CHAT_E_INVALID_JSON;
    }
    *root = value;
    return 0;
}

int proto_field(const cJSON *root, const char *key, const cJSON **out)
{
    *out = NULL;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (!item->string || strcmp(item->string, key) != 0) continue;
        if (*out) return CHAT_E_INVALID_REQUEST; /* the same field twice */
        *out = item;
    }
    return 0;
}

/* A field that must be absent, null or a string; *s NULL when absent/null. */
static int string_field(const cJSON *root, const char *key, const char **s, size_t *len)
{
    const cJSON *value;
    int err = proto_field(root, key, &value);
    *s = NULL;
    *len = 0;
    if (err || !value || cJSON_IsNull(value)) return err;
    if (!cJSON_IsString(value)) return CHAT_E_INVALID_REQUEST;
    *s = value->valuestring;
    *len = strlen(value->valuestring);
    return 0;
}

int proto_type(const cJSON *root, const char **type)
{
    size_t len;
    int err = string_field(root, "type", type, &len);
    if (!err && !*type) err = CHAT_E_INVALID_REQUEST;
    return err;
}

int proto_request_id(const cJSON *root, char *out)
{
    const char *s;
    size_t len;
    out[0] = 0;
    int err = string_field(root, "requestId", &s, &len);
    if (err || !s) return err;
    if (len > 4 * PROTO_REQUEST_ID_MAX ||
        ws_utf8_codepoints((const uint8_t *)s, len) > PROTO_REQUEST_ID_MAX)
        return CHAT_E_INVALID_REQUEST;
    memcpy(out, s, len + 1);
    return 0;
}

int proto_id(const cJSON *root, const char *key, bool required, int64_t *out)
{
    const char *s;
    size_t len;
    *out = 0;
    int err = string_field(root, key, &s, &len);
    if (err) return err;
    if (!s) return required ? CHAT_E_INVALID_REQUEST : 0;
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

int proto_short_string(const cJSON *root, const char *key, size_t max_chars, char *out)
{
    const char *s;
    size_t len;
    out[0] = 0;
    int err = string_field(root, key, &s, &len);
    if (err || !s) return err;
    if (len > 4 * max_chars || ws_utf8_codepoints((const uint8_t *)s, len) > max_chars)
        return CHAT_E_INVALID_REQUEST;
    memcpy(out, s, len + 1);
    return 0;
}

/* True for a text made only of white space (ASCII, U+00A0, U+2000..U+200B,
 * U+202F, U+3000, U+FEFF). */
static bool only_whitespace(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == ' ' || (c >= '\t' && c <= '\r')) continue;
        if (c == 0xC2 && i + 1 < len && p[i + 1] == 0xA0) {
            i += 1;
            continue;
        }
        if (i + 2 < len &&
            ((c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] <= 0x8B || p[i + 2] == 0xAF)) ||
             (c == 0xE3 && p[i + 1] == 0x80 && p[i + 2] == 0x80) ||
             (c == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF))) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

int proto_content(const cJSON *root, int max_codepoints, const char **text, size_t *len)
{
    int err = string_field(root, "content", text, len);
    if (err) return err;
    if (!*text || *len == 0 || only_whitespace(*text, *len)) return CHAT_E_INVALID_REQUEST;
    if (*len > (size_t)max_codepoints &&
        ws_utf8_codepoints((const uint8_t *)*text, *len) > (size_t)max_codepoints)
        return CHAT_E_CONTENT_TOO_LONG;
    return 0;
}

int proto_limit(const cJSON *root, int default_limit, int max, int *out)
{
    const cJSON *value;
    int err = proto_field(root, "limit", &value);
    if (err) return err;
    if (!value || cJSON_IsNull(value)) {
        *out = default_limit;
        return 0;
    }
    if (!cJSON_IsNumber(value)) return CHAT_E_INVALID_REQUEST;
    double n = value->valuedouble;
    if (n != floor(n) || n < 1 || n > max) return CHAT_E_INVALID_REQUEST;
    *out = (int)n;
    return 0;
}
