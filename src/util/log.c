/* Leveled logging: see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static enum log_level log_threshold = LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level level, bool json)
{
    log_threshold = level;
    log_json = json;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_ERROR; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

bool log_enabled(enum log_level level)
{
    return level >= log_threshold;
}

/* Appends text to line as the inside of a JSON string. */
static size_t append_json_escaped(char *line, size_t at, size_t cap, const char *text)
{
    for (const char *p = text; *p && at + 7 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            line[at++] = '\\';
            line[at++] = (char)c;
        } else if (c < 0x20) {
            at += (size_t)snprintf(line + at, cap - at, "\\u%04x", c);
        } else {
            line[at++] = (char)c;
        }
    }
    return at;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level)) return;

    char message[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    char line[LOG_LINE_MAX + 128];
    size_t len;
    if (log_json) {
        len = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"",
                               stamp, level_names[level]);
        len = append_json_escaped(line, len, sizeof line - 3, message);
        memcpy(line + len, "\"}\n", 3);
        len += 3;
    } else {
        len =
            (size_t)snprintf(line, sizeof line, "%s %-5s %s\n", stamp, level_names[level], message);
        if (len >= sizeof line) {
            len = sizeof line - 1;
            line[len - 1] = '\n';
        }
    }
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}
