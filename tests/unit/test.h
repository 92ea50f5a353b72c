/* A minimal unit-test harness: TEST(name) defines and registers a test; the
 * CHECK macros record a failure and carry on; tests/unit/test_main.c runs every
 * registered test and ends with the line "N passed, N failed". */
#ifndef CHATD_TEST_H
#define CHATD_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void name##_register(void)                                 \
    {                                                                                              \
        test_register(#name, name);                                                                \
    }                                                                                              \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                            \
    } while (0)

#define CHECK_INT(actual, expected)                                                                \
    do {                                                                                           \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                            \
        if (a_ != e_) test_fail(__FILE__, __LINE__, "%s == %lld, expected %lld", #actual, a_, e_); \
    } while (0)

#define CHECK_STR(actual, expected)                                                                \
    do {                                                                                           \
        const char *a_ = (actual), *e_ = (expected);                                               \
        if (!a_ || !e_ || strcmp(a_, e_) != 0)                                                     \
            test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #actual,                \
                      a_ ? a_ : "(null)", e_ ? e_ : "(null)");                                     \
    } while (0)

#define CHECK_MEM(actual, expected, len)                                                           \
    do {                                                                                           \
        if (memcmp((actual), (expected), (len)) != 0)                                              \
            test_fail(__FILE__, __LINE__, "%s differs from %s", #actual, #expected);               \
    } while (0)

#endif
