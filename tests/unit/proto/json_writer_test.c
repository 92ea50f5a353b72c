/* Tests for src/proto/json_writer.c: commas and nesting, every string escape and U+2028/U+2029,
 * integers and ids, ISO-8601 times checked against gmtime_r over four centuries, the buffer and
 * depth bounds, misuse, and a round trip through jansson's parser. */
#include "test.h"

#include "proto/json_writer.h"
#include "util/error.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

static buf out;
static json_writer w;

static void start(size_t max)
{
    buf_free(&out);
    buf_init(&out, max);
    jw_init(&w, &out);
}

static const char *text(void)
{
    return out.data ? (const char *)out.data : "";
}

TEST(nesting_and_commas)
{
    start(4096);
    jw_object_begin(&w);
    jw_key(&w, "a");
    jw_int(&w, 1);
    jw_key(&w, "b");
    jw_array_begin(&w);
    jw_int(&w, 1);
    jw_int(&w, 2);
    jw_object_begin(&w);
    jw_key(&w, "c");
    jw_null(&w);
    jw_object_end(&w);
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_array_end(&w);
    jw_key(&w, "d");
    jw_object_begin(&w);
    jw_object_end(&w);
    jw_key(&w, "e");
    jw_bool(&w, true);
    jw_key(&w, "f");
    jw_bool(&w, false);
    jw_key(&w, "g");
    jw_raw(&w, "{\"pre\":[1]}", 11);
    jw_key(&w, "h");
    jw_string(&w, NULL);
    jw_object_end(&w);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "{\"a\":1,\"b\":[1,2,{\"c\":null},[]],\"d\":{},\"e\":true,\"f\":false,"
                      "\"g\":{\"pre\":[1]},\"h\":null}");
}

TEST(top_level_values_and_arrays)
{
    start(4096);
    jw_array_begin(&w);
    jw_string(&w, "x");
    jw_raw(&w, "[]", 2);
    jw_id(&w, 7);
    jw_array_end(&w);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "[\"x\",[],\"7\"]");
}

TEST(every_escape)
{
    const char in[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f end";
    start(4096);
    jw_string_n(&w, in, sizeof in - 1);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f end\"");

    start(4096);
    jw_string_n(&w, "a\0b", 3);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "\"a\\u0000b\"");

    start(4096);
    jw_string(&w, "");
    CHECK_STR(text(), "\"\"");
}

TEST(every_control_character)
{
    static const char *const expected[32] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f"};
    for (int c = 0; c < 32; c++) {
        char in = (char)c, want[16];
        snprintf(want, sizeof want, "\"%s\"", expected[c]);
        start(64);
        jw_string_n(&w, &in, 1);
        CHECK_STR(text(), want);
    }
}

TEST(line_and_paragraph_separators)
{
    /* U+2028, U+2029 escaped; their neighbours U+2027, U+202A and the euro sign pass through */
    const char in[] = "a\xe2\x80\xa8"
                      "b\xe2\x80\xa9"
                      "c\xe2\x80\xa7\xe2\x80\xaa\xe2\x82\xac\xe2\x80\xa8";
    start(4096);
    jw_string(&w, in);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "\"a\\u2028b\\u2029c\xe2\x80\xa7\xe2\x80\xaa\xe2\x82\xac\\u2028\"");
}

TEST(utf8_passes_through)
{
    const char in[] = "h\xc3\xa9llo \xf0\x9f\x91\x8d \xe4\xb8\xad\xe6\x96\x87";
    start(4096);
    jw_string(&w, in);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "\"h\xc3\xa9llo \xf0\x9f\x91\x8d \xe4\xb8\xad\xe6\x96\x87\"");
}

TEST(integers)
{
    start(4096);
    jw_array_begin(&w);
    jw_int(&w, 0);
    jw_int(&w, -1);
    jw_int(&w, 1234567890123);
    jw_int(&w, INT64_MAX);
    jw_int(&w, INT64_MIN);
    jw_array_end(&w);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "[0,-1,1234567890123,9223372036854775807,-9223372036854775808]");
}

TEST(ids)
{
    start(4096);
    jw_object_begin(&w);
    jw_key(&w, "messageId");
    jw_id(&w, 101);
    jw_key(&w, "groupId");
    jw_id(&w, 0);
    jw_key(&w, "max");
    jw_id(&w, INT64_MAX);
    jw_object_end(&w);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), "{\"messageId\":\"101\",\"groupId\":null,\"max\":\"9223372036854775807\"}");

    start(4096);
    jw_id(&w, -5);
    CHECK_INT(jw_finish(&w), CHAT_E_INTERNAL);
}

static void check_time(int64_t ms, const char *expected)
{
    start(4096);
    jw_time_ms(&w, ms);
    CHECK_INT(jw_finish(&w), 0);
    CHECK_STR(text(), expected);
}

TEST(times)
{
    check_time(0, "null");
    check_time(1, "\"1970-01-01T00:00:00.001Z\"");
    check_time(951782400000, "\"2000-02-29T00:00:00.000Z\"");
    check_time(951782400000 + 86399999, "\"2000-02-29T23:59:59.999Z\"");
    check_time(1795953600000, "\"2026-11-29T12:00:00.000Z\"");
    check_time(2147483648000, "\"2038-01-19T03:14:08.000Z\"");
    check_time(-1, "\"1969-12-31T23:59:59.999Z\"");
    check_time(-2203891200000, "\"1900-03-01T00:00:00.000Z\"");
    check_time(253402300799999, "\"9999-12-31T23:59:59.999Z\"");

    start(4096);
    jw_time_ms(&w, 253402300800000); /* year 10000 */
    CHECK_INT(jw_finish(&w), CHAT_E_INTERNAL);
}

/* Every day from 1800 to 2200 at a varying time of day, against the C library. */
TEST(times_match_gmtime)
{
    const int64_t first_day = -62091, last_day = 84006; /* 1800-01-01 .. 2200-01-01 */
    int mismatches = 0;
    for (int64_t day = first_day; day <= last_day; day++) {
        int64_t ms_of_day = (day * 7919 % 86400000 + 86400000) % 86400000;
        int64_t ms = day * 86400000 + ms_of_day;
        if (ms == 0) continue;
        time_t seconds = (time_t)(day * 86400 + ms_of_day / 1000);
        struct tm tm;
        gmtime_r(&seconds, &tm);
        char expected[96];
        snprintf(expected, sizeof expected, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms_of_day % 1000));
        start(64);
        jw_time_ms(&w, ms);
        if (strcmp(text(), expected) != 0 && mismatches++ < 5)
            test_fail(__FILE__, __LINE__, "%lld: %s, expected %s", (long long)ms, text(), expected);
    }
    CHECK_INT(mismatches, 0);
}

TEST(buffer_bound_is_sticky)
{
    start(16);
    jw_object_begin(&w);
    jw_key(&w, "content");
    jw_string(&w, "this does not fit in sixteen bytes");
    size_t len = out.len;
    jw_key(&w, "x");
    jw_int(&w, 1);
    jw_object_end(&w);
    CHECK_INT(out.len, len);
    CHECK_INT(jw_finish(&w), CHAT_E_TOO_BIG);
    CHECK(out.len <= 16);
}

TEST(depth_bound)
{
    start(4096);
    for (int i = 0; i < JW_MAX_DEPTH; i++) jw_array_begin(&w);
    for (int i = 0; i < JW_MAX_DEPTH; i++) jw_array_end(&w);
    CHECK_INT(jw_finish(&w), 0);

    start(4096);
    for (int i = 0; i <= JW_MAX_DEPTH; i++) jw_array_begin(&w);
    CHECK_INT(jw_finish(&w), CHAT_E_TOO_BIG);
}

TEST(misuse)
{
    start(4096);
    jw_object_end(&w);
    CHECK_INT(jw_finish(&w), CHAT_E_INTERNAL);

    start(4096);
    jw_object_begin(&w);
    CHECK_INT(jw_finish(&w), CHAT_E_INTERNAL);
}

/* An event as the server writes it, read back by jansson (the library that parses requests). */
TEST(round_trip_through_jansson)
{
    const char content[] =
        "Hi \"you\"\\ \xe2\x80\xa8 line\nnext\ttab \x01 \xf0\x9f\x91\x8d caf\xc3\xa9";
    start(65536);
    jw_object_begin(&w);
    jw_key(&w, "type");
    jw_string(&w, "new_message");
    jw_key(&w, "message");
    jw_object_begin(&w);
    jw_key(&w, "messageId");
    jw_id(&w, 101);
    jw_key(&w, "groupId");
    jw_id(&w, 0);
    jw_key(&w, "content");
    jw_string(&w, content);
    jw_key(&w, "mentions");
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_key(&w, "deleted");
    jw_bool(&w, false);
    jw_key(&w, "createdAt");
    jw_time_ms(&w, 1795953600000);
    jw_key(&w, "ts");
    jw_int(&w, -42);
    jw_key(&w, "reactions");
    jw_object_begin(&w);
    jw_key(&w, "\xf0\x9f\x91\x8d");
    jw_array_begin(&w);
    jw_id(&w, 2);
    jw_id(&w, 3);
    jw_array_end(&w);
    jw_object_end(&w);
    jw_object_end(&w);
    jw_object_end(&w);
    CHECK_INT(jw_finish(&w), 0);

    json_error_t error;
    json_t *root = json_loadb(text(), out.len, JSON_REJECT_DUPLICATES, &error);
    CHECK(root != NULL);
    if (!root) return;
    json_t *message = json_object_get(root, "message");
    CHECK_STR(json_string_value(json_object_get(root, "type")), "new_message");
    CHECK_STR(json_string_value(json_object_get(message, "messageId")), "101");
    CHECK(json_is_null(json_object_get(message, "groupId")));
    CHECK_STR(json_string_value(json_object_get(message, "content")), content);
    CHECK_INT(json_array_size(json_object_get(message, "mentions")), 0);
    CHECK(json_is_false(json_object_get(message, "deleted")));
    CHECK_STR(json_string_value(json_object_get(message, "createdAt")), "2026-11-29T12:00:00.000Z");
    CHECK_INT(json_integer_value(json_object_get(message, "ts")), -42);
    json_t *thumbs = json_object_get(json_object_get(message, "reactions"), "\xf0\x9f\x91\x8d");
    CHECK_INT(json_array_size(thumbs), 2);
    CHECK_STR(json_string_value(json_array_get(thumbs, 1)), "3");
    json_decref(root);
    buf_free(&out);
}
