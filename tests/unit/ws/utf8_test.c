/* Tests for src/ws/utf8.c: Markus Kuhn's UTF-8 decoder stress test vectors (valid and invalid),
 * fail-fast positions when fed one byte at a time, and code-point counting. */
#include "test.h"

#include "ws/utf8.h"

/* A test vector: bytes, and for invalid input the index of the first byte that makes it
 * invalid (fail_at), or len when it is only incomplete at the end. */
struct vector {
    const char *name;
    const char *bytes;
    size_t len;
    long fail_at; /* -1: valid */
};

#define VALID(name, s)                                                                             \
    {                                                                                              \
        name, s, sizeof s - 1, -1                                                                  \
    }
#define INVALID(name, s, at)                                                                       \
    {                                                                                              \
        name, s, sizeof s - 1, at                                                                  \
    }

/* Markus Kuhn, "UTF-8 decoder capability and stress test", sections 1-5. */
static const struct vector kuhn[] = {
    /* 1  Some correct UTF-8 text */
    VALID("1 kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
    /* 2.1  First possible sequence of a certain length */
    VALID("2.1.1 U+0000", "\x00"),
    VALID("2.1.2 U+0080", "\xc2\x80"),
    VALID("2.1.3 U+0800", "\xe0\xa0\x80"),
    VALID("2.1.4 U+10000", "\xf0\x90\x80\x80"),
    INVALID("2.1.5 5 bytes U+200000", "\xf8\x88\x80\x80\x80", 0),
    INVALID("2.1.6 6 bytes U+4000000", "\xfc\x84\x80\x80\x80\x80", 0),
    /* 2.2  Last possible sequence of a certain length */
    VALID("2.2.1 U+007F", "\x7f"),
    VALID("2.2.2 U+07FF", "\xdf\xbf"),
    VALID("2.2.3 U+FFFF", "\xef\xbf\xbf"),
    INVALID("2.2.4 U+1FFFFF", "\xf7\xbf\xbf\xbf", 0),
    INVALID("2.2.5 U+3FFFFFF", "\xfb\xbf\xbf\xbf\xbf", 0),
    INVALID("2.2.6 U+7FFFFFFF", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    /* 2.3  Other boundary conditions */
    VALID("2.3.1 U+D7FF", "\xed\x9f\xbf"),
    VALID("2.3.2 U+E000", "\xee\x80\x80"),
    VALID("2.3.3 U+FFFD", "\xef\xbf\xbd"),
    VALID("2.3.4 U+10FFFF", "\xf4\x8f\xbf\xbf"),
    INVALID("2.3.5 U+110000", "\xf4\x90\x80\x80", 1),
    /* 3.1  Unexpected continuation bytes */
    INVALID("3.1.1 first continuation byte", "\x80", 0),
    INVALID("3.1.2 last continuation byte", "\xbf", 0),
    INVALID("3.1.3 2 continuation bytes", "\x80\xbf", 0),
    INVALID("3.1.4 3 continuation bytes", "\x80\xbf\x80", 0),
    INVALID("3.1.8 all 64 continuation bytes",
            "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f"
            "\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f"
            "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf"
            "\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf",
            0),
    INVALID("3.1 continuation after valid text", "ab\xce\xba\xbf", 4),
    /* 3.2  Lonely start characters, each followed by a space */
    INVALID("3.2.1 2-byte start + space", "\xc2\x20", 1),
    INVALID("3.2.1 last 2-byte start + space", "\xdf\x20", 1),
    INVALID("3.2.2 3-byte start + space", "\xe1\x20", 1),
    INVALID("3.2.3 4-byte start + space", "\xf1\x20", 1),
    INVALID("3.2.4 5-byte start + space", "\xf8\x20", 0),
    INVALID("3.2.5 6-byte start + space", "\xfc\x20", 0),
    /* 3.3  Sequences with last continuation byte missing (incomplete at the end) */
    INVALID("3.3.1 2-byte U+0000 missing", "\xc0", 0),
    INVALID("3.3.2 3-byte U+0000 missing", "\xe0\x80", 1),
    INVALID("3.3.3 4-byte U+0000 missing", "\xf0\x80\x80", 1),
    INVALID("3.3.6 2-byte U+07FF missing", "\xdf", 1),
    INVALID("3.3.7 3-byte U+FFFF missing", "\xef\xbf", 2),
    INVALID("3.3.8 4-byte U+1FFFFF missing", "\xf7\xbf\xbf", 0),
    INVALID("3.3 4-byte U+10FFFF missing", "\xf4\x8f\xbf", 3),
    /* 3.4  Concatenation of incomplete sequences */
    INVALID("3.4 concatenated incomplete", "\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf\xf7\xbf\xbf", 0),
    INVALID("3.4 valid-lead incomplete", "\xdf\xef\xbf", 1),
    /* 3.5  Impossible bytes */
    INVALID("3.5.1 fe", "\xfe", 0),
    INVALID("3.5.2 ff", "\xff", 0),
    INVALID("3.5.3 fe fe ff ff", "\xfe\xfe\xff\xff", 0),
    /* 4.1  Overlong "/" */
    INVALID("4.1.1 overlong / 2 bytes", "\xc0\xaf", 0),
    INVALID("4.1.2 overlong / 3 bytes", "\xe0\x80\xaf", 1),
    INVALID("4.1.3 overlong / 4 bytes", "\xf0\x80\x80\xaf", 1),
    INVALID("4.1.4 overlong / 5 bytes", "\xf8\x80\x80\x80\xaf", 0),
    INVALID("4.1.5 overlong / 6 bytes", "\xfc\x80\x80\x80\x80\xaf", 0),
    /* 4.2  Maximum overlong sequences */
    INVALID("4.2.1 overlong U+007F", "\xc1\xbf", 0),
    INVALID("4.2.2 overlong U+07FF", "\xe0\x9f\xbf", 1),
    INVALID("4.2.3 overlong U+FFFF", "\xf0\x8f\xbf\xbf", 1),
    INVALID("4.2.4 overlong U+1FFFFF", "\xf8\x87\xbf\xbf\xbf", 0),
    /* 4.3  Overlong NUL */
    INVALID("4.3.1 overlong NUL 2 bytes", "\xc0\x80", 0),
    INVALID("4.3.2 overlong NUL 3 bytes", "\xe0\x80\x80", 1),
    INVALID("4.3.3 overlong NUL 4 bytes", "\xf0\x80\x80\x80", 1),
    /* 5.1  Single UTF-16 surrogates */
    INVALID("5.1.1 U+D800", "\xed\xa0\x80", 1),
    INVALID("5.1.2 U+DB7F", "\xed\xad\xbf", 1),
    INVALID("5.1.3 U+DB80", "\xed\xae\x80", 1),
    INVALID("5.1.4 U+DBFF", "\xed\xaf\xbf", 1),
    INVALID("5.1.5 U+DC00", "\xed\xb0\x80", 1),
    INVALID("5.1.6 U+DF80", "\xed\xbe\x80", 1),
    INVALID("5.1.7 U+DFFF", "\xed\xbf\xbf", 1),
    /* 5.2  Paired UTF-16 surrogates */
    INVALID("5.2.1 U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", 1),
    INVALID("5.2.8 U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1),
    /* 5.3  Noncharacters are valid UTF-8 */
    VALID("5.3.1 U+FFFE", "\xef\xbf\xbe"),
    VALID("5.3.2 U+FFFF", "\xef\xbf\xbf"),
    VALID("5.3.3 U+FDD0", "\xef\xb7\x90"),
    VALID("5.3.4 U+1FFFE", "\xf0\x9f\xbf\xbe"),
    /* Autobahn 6.3.1: valid text, then a surrogate, then more text */
    INVALID("autobahn 6.3.1",
            "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
            "edited",
            12),
    VALID("mixed scripts",
          "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"),
    VALID("emoji", "\xf0\x9f\x91\x8d \xf0\x9f\x98\x80"),
    VALID("empty", ""),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

TEST(kuhn_vectors_whole_buffer)
{
    for (size_t i = 0; i < COUNT(kuhn); i++) {
        const struct vector *v = &kuhn[i];
        bool valid = ws_utf8_valid((const uint8_t *)v->bytes, v->len);
        if (valid != (v->fail_at < 0))
            test_fail(__FILE__, __LINE__, "%s: valid == %d", v->name, valid);
    }
}

/* Fed one byte at a time, the validator fails at exactly the first offending byte; an input that
 * is only cut short feeds fine but is not complete. */
TEST(kuhn_vectors_byte_at_a_time_fail_fast)
{
    for (size_t i = 0; i < COUNT(kuhn); i++) {
        const struct vector *v = &kuhn[i];
        ws_utf8 u;
        ws_utf8_init(&u);
        long failed_at = -1;
        for (size_t k = 0; k < v->len; k++) {
            if (!ws_utf8_feed(&u, (const uint8_t *)v->bytes + k, 1)) {
                failed_at = (long)k;
                break;
            }
        }
        bool complete = ws_utf8_complete(&u);
        long expected = v->fail_at;
        if (expected == (long)v->len) { /* incomplete at the end, never rejected while feeding */
            if (failed_at != -1 || complete)
                test_fail(__FILE__, __LINE__, "%s: failed_at %ld, complete %d", v->name, failed_at,
                          complete);
        } else if (failed_at != expected || complete != (expected < 0)) {
            test_fail(__FILE__, __LINE__, "%s: failed at %ld, expected %ld", v->name, failed_at,
                      expected);
        }
    }
}

/* Split in two pieces at every position, the result is the same as whole. */
TEST(kuhn_vectors_split_everywhere)
{
    for (size_t i = 0; i < COUNT(kuhn); i++) {
        const struct vector *v = &kuhn[i];
        for (size_t cut = 0; cut <= v->len; cut++) {
            ws_utf8 u;
            ws_utf8_init(&u);
            bool ok = ws_utf8_feed(&u, (const uint8_t *)v->bytes, cut);
            ok = ws_utf8_feed(&u, (const uint8_t *)v->bytes + cut, v->len - cut) && ok;
            ok = ok && ws_utf8_complete(&u);
            if (ok != (v->fail_at < 0))
                test_fail(__FILE__, __LINE__, "%s cut at %zu: %d", v->name, cut, ok);
        }
    }
}

TEST(rejection_is_sticky)
{
    ws_utf8 u;
    ws_utf8_init(&u);
    CHECK(!ws_utf8_feed(&u, (const uint8_t *)"\xff", 1));
    CHECK(!ws_utf8_feed(&u, (const uint8_t *)"abc", 3));
    CHECK(!ws_utf8_feed(&u, (const uint8_t *)"", 0));
    CHECK(!ws_utf8_complete(&u));
}

TEST(empty_feed_is_complete)
{
    ws_utf8 u;
    ws_utf8_init(&u);
    CHECK(ws_utf8_complete(&u));
    CHECK(ws_utf8_feed(&u, NULL, 0));
    CHECK(ws_utf8_complete(&u));
    CHECK(ws_utf8_feed(&u, (const uint8_t *)"\xe2\x82", 2));
    CHECK(!ws_utf8_complete(&u));
    CHECK(ws_utf8_feed(&u, (const uint8_t *)"\xac", 1));
    CHECK(ws_utf8_complete(&u));
}

/* Every code point of a plane boundary set, encoded by hand, is accepted; every surrogate is not.
 */
TEST(every_boundary_code_point)
{
    static const uint32_t valid[] = {0x0,     0x7F,    0x80,    0x7FF,    0x800,   0xFFF,
                                     0x1000,  0xD7FF,  0xE000,  0xFFFD,   0xFFFF,  0x10000,
                                     0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF};
    for (size_t i = 0; i < COUNT(valid); i++) {
        uint32_t c = valid[i];
        uint8_t b[4];
        size_t n;
        if (c < 0x80) {
            b[0] = (uint8_t)c;
            n = 1;
        } else if (c < 0x800) {
            b[0] = (uint8_t)(0xC0 | c >> 6);
            b[1] = (uint8_t)(0x80 | (c & 0x3F));
            n = 2;
        } else if (c < 0x10000) {
            b[0] = (uint8_t)(0xE0 | c >> 12);
            b[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
            b[2] = (uint8_t)(0x80 | (c & 0x3F));
            n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | c >> 18);
            b[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
            b[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
            b[3] = (uint8_t)(0x80 | (c & 0x3F));
            n = 4;
        }
        if (!ws_utf8_valid(b, n)) test_fail(__FILE__, __LINE__, "U+%04X rejected", (unsigned)c);
    }
    for (uint32_t c = 0xD800; c <= 0xDFFF; c++) {
        uint8_t b[3] = {(uint8_t)(0xE0 | c >> 12), (uint8_t)(0x80 | (c >> 6 & 0x3F)),
                        (uint8_t)(0x80 | (c & 0x3F))};
        if (ws_utf8_valid(b, 3)) test_fail(__FILE__, __LINE__, "surrogate U+%04X accepted", c);
    }
}

TEST(codepoints)
{
    CHECK_INT(ws_utf8_codepoints((const uint8_t *)"", 0), 0);
    CHECK_INT(ws_utf8_codepoints((const uint8_t *)"hello", 5), 5);
    CHECK_INT(
        ws_utf8_codepoints((const uint8_t *)"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11), 5);
    /* "a€𝄞": 1 + 3 + 4 bytes */
    CHECK_INT(ws_utf8_codepoints((const uint8_t *)"a\xe2\x82\xac\xf0\x9d\x84\x9e", 8), 3);
    CHECK_INT(ws_utf8_codepoints((const uint8_t *)"\xf0\x9f\x91\x8d", 4), 1);
}
