/* libFuzzer target for the request readers (src/proto/request.c): every input is parsed as a
 * client message and, when it is an object, every field reader runs on it; the readers must not
 * crash, leak or read out of bounds, and what they accept must keep their promises (ids in
 * 1..INT64_MAX, requestId and short strings within their bounds). Not part of the build. Build
 * and run from the repository root with:
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/request_fuzz.c src/proto/request.c src/ws/utf8.c src/util/error.c \
 *       -lcjson -o build/request_fuzz
 *   mkdir -p build/request_corpus && build/request_fuzz -max_total_time=120 build/request_corpus
 */
#include "proto/request.h"
#include "util/error.h"
#include "ws/utf8.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the transport only hands over valid UTF-8 */
    if (!ws_utf8_valid(data, size)) return 0;
    cJSON *root = NULL;
    bool has_nul = false;
    if (proto_parse(data, size, &root, &has_nul) != 0) return 0;

    const char *type;
    char request_id[PROTO_REQUEST_ID_BYTES];
    char short_text[4 * 64 + 1];
    int64_t id;
    const char *content;
    size_t content_len;
    int limit;
    (void)proto_type(root, &type);
    if (proto_request_id(root, request_id) == 0 && strlen(request_id) > 4 * PROTO_REQUEST_ID_MAX)
        abort();
    if (proto_id(root, "recipientId", true, &id) == 0 && id <= 0) abort();
    if (proto_short_string(root, "clientMessageId", 64, short_text) == 0 &&
        ws_utf8_codepoints((const uint8_t *)short_text, strlen(short_text)) > 64)
        abort();
    if (proto_content(root, 5000, &content, &content_len) == 0 &&
        (content_len == 0 || ws_utf8_codepoints((const uint8_t *)content, content_len) > 5000))
        abort();
    if (proto_limit(root, 50, 100, &limit) == 0 && (limit < 1 || limit > 100)) abort();
    cJSON_Delete(root);
    return 0;
}
