/* The escaping JSON writer used for every server event. See json_writer.h. */
#include "proto/json_writer.h"

#include "util/error.h"

#include <string.h>

#define MS_PER_DAY 86400000

/* What jw_string_n does with each byte: 0 copies it, 1 escapes it, 2 is the lead byte of
 * U+2028/U+2029 (E2 80 A8/A9) when the two next bytes say so, and copied otherwise. */
enum { PASS, ESCAPE, MAYBE_LINE_SEPARATOR };

static const uint8_t escape_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0: E2 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

/* ------------------------------------------------------------------------------------------
 * Output and structure
 * ------------------------------------------------------------------------------------------ */

static void fail(json_writer *w, int err)
{
    if (!w->error) w->error = err;
}

static void put(json_writer *w, const void *p, size_t n)
{
    if (w->error) return;
    int err = buf_append(w->out, p, n);
    if (err) w->error = err;
}

static void put_char(json_writer *w, char c)
{
    put(w, &c, 1);
}

/* Every value starts here: the comma that separates it from the previous value of the same
 * object or array (a key clears the flag, so a key's value gets none). */
static void value_begin(json_writer *w)
{
    if (w->need_comma[w->depth]) put_char(w, ',');
    w->need_comma[w->depth] = true;
}

static void container_begin(json_writer *w, char open)
{
    if (w->error) return;
    if (w->depth == JW_MAX_DEPTH) {
        fail(w, CHAT_E_TOO_BIG);
        return;
    }
    value_begin(w);
    put_char(w, open);
    w->depth++;
    w->need_comma[w->depth] = false;
}

static void container_end(json_writer *w, char close)
{
    if (w->error) return;
    if (w->depth == 0) {
        fail(w, CHAT_E_INTERNAL);
        return;
    }
    w->depth--;
    put_char(w, close);
}

void jw_init(json_writer *w, buf *out)
{
    w->out = out;
    w->depth = 0;
    w->need_comma[0] = false;
    w->error = 0;
}

void jw_object_begin(json_writer *w)
{
    container_begin(w, '{');
}

void jw_object_end(json_writer *w)
{
    container_end(w, '}');
}

void jw_array_begin(json_writer *w)
{
    container_begin(w, '[');
}

void jw_array_end(json_writer *w)
{
    container_end(w, ']');
}

void jw_key(json_writer *w, const char *key)
{
    if (w->need_comma[w->depth]) put_char(w, ',');
    w->need_comma[w->depth] = false;
    put_char(w, '"');
    put(w, key, strlen(key));
    put(w, "\":", 2);
}

/* ------------------------------------------------------------------------------------------
 * Strings
 * ------------------------------------------------------------------------------------------ */

static void put_escape(json_writer *w, uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"':
        put(w, "\\\"", 2);
        return;
    case '\\':
        put(w, "\\\\", 2);
        return;
    case '\b':
        put(w, "\\b", 2);
        return;
    case '\f':
        put(w, "\\f", 2);
        return;
    case '\n':
        put(w, "\\n", 2);
        return;
    case '\r':
        put(w, "\\r", 2);
        return;
    case '\t':
        put(w, "\\t", 2);
        return;
    default: {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        put(w, u, sizeof u);
    }
    }
}

/* Copies runs of bytes that need no escaping with one append each; only '"', '\\', control
 * characters and U+2028/U+2029 (line terminators in JavaScript, not in JSON) break a run. */
void jw_string_n(json_writer *w, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t run = 0, i = 0;

    value_begin(w);
    put_char(w, '"');
    while (i < n) {
        while (i < n && escape_class[p[i]] == PASS) i++;
        if (i == n) break;
        if (escape_class[p[i]] == MAYBE_LINE_SEPARATOR) {
            if (n - i < 3 || p[i + 1] != 0x80 || (p[i + 2] != 0xa8 && p[i + 2] != 0xa9)) {
                i++;
                continue;
            }
            put(w, p + run, i - run);
            put(w, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            i += 3;
        } else {
            put(w, p + run, i - run);
            put_escape(w, p[i]);
            i++;
        }
        run = i;
    }
    put(w, p + run, n - run);
    put_char(w, '"');
}

void jw_string(json_writer *w, const char *s)
{
    if (!s)
        jw_null(w);
    else
        jw_string_n(w, s, strlen(s));
}

/* ------------------------------------------------------------------------------------------
 * Numbers, ids, literals
 * ------------------------------------------------------------------------------------------ */

/* Writes the decimal digits of v so that they end at end; returns where they start. */
static char *format_decimal(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void jw_int(json_writer *w, int64_t v)
{
    char digits[21];
    char *end = digits + sizeof digits;
    /* the magnitude in unsigned arithmetic, so INT64_MIN does not overflow */
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = format_decimal(end, magnitude);
    if (v < 0) *--p = '-';
    value_begin(w);
    put(w, p, (size_t)(end - p));
}

void jw_id(json_writer *w, int64_t id)
{
    if (id == 0) {
        jw_null(w);
        return;
    }
    if (id < 0) {
        fail(w, CHAT_E_INTERNAL);
        return;
    }
    char text[22];
    char *end = text + sizeof text;
    *--end = '"';
    char *p = format_decimal(end, (uint64_t)id);
    *--p = '"';
    value_begin(w);
    put(w, p, (size_t)(end + 1 - p));
}

void jw_bool(json_writer *w, bool v)
{
    value_begin(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jw_null(json_writer *w)
{
    value_begin(w);
    put(w, "null", 4);
}

void jw_raw(json_writer *w, const char *json, size_t n)
{
    value_begin(w);
    put(w, json, n);
}

/* ------------------------------------------------------------------------------------------
 * Times
 * ------------------------------------------------------------------------------------------ */

/* Howard Hinnant's civil_from_days (http://howardhinnant.github.io/date_algorithms.html): the
 * proleptic Gregorian date of a count of days since 1970-01-01, without gmtime's locale, time
 * zone or time_t range questions. Eras are 400-year cycles starting on March 1st. */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468; /* days from 0000-03-01 to 1970-01-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097; /* [0, 146096] */
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;           /* [0, 11] */
    *day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1); /* [1, 31] */
    *month = (int)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

/* Writes v as exactly width digits ending at end (v fits). */
static void format_fixed(char *end, unsigned v, int width)
{
    for (int i = 0; i < width; i++) {
        *--end = (char)('0' + v % 10);
        v /= 10;
    }
}

void jw_time_ms(json_writer *w, int64_t epoch_ms)
{
    if (epoch_ms == 0) {
        jw_null(w);
        return;
    }
    int64_t days = epoch_ms / MS_PER_DAY, ms_of_day = epoch_ms % MS_PER_DAY;
    if (ms_of_day < 0) { /* floor division for times before 1970 */
        ms_of_day += MS_PER_DAY;
        days--;
    }
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999) {
        fail(w, CHAT_E_INTERNAL);
        return;
    }

    unsigned ms = (unsigned)ms_of_day;
    /* "2026-11-29T12:00:00.000Z" with its quotes */
    char text[] = "\"0000-00-00T00:00:00.000Z\"";
    format_fixed(text + 5, (unsigned)year, 4);
    format_fixed(text + 8, (unsigned)month, 2);
    format_fixed(text + 11, (unsigned)day, 2);
    format_fixed(text + 14, ms / 3600000, 2);
    format_fixed(text + 17, ms / 60000 % 60, 2);
    format_fixed(text + 20, ms / 1000 % 60, 2);
    format_fixed(text + 24, ms % 1000, 3);
    value_begin(w);
    put(w, text, sizeof text - 1);
}

int jw_finish(json_writer *w)
{
    if (w->depth != 0) fail(w, CHAT_E_INTERNAL);
    return w->error;
}
