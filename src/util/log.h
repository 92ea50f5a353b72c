/* Leveled logging to stderr, one line per record, as text or as JSON
 * (LOG_LEVEL, LOG_FORMAT). Safe from any thread: a record is formatted into a
 * local buffer and written with a single write(2). */
#ifndef CHATD_UTIL_LOG_H
#define CHATD_UTIL_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the threshold and the format; call once at start-up. */
void log_setup(enum log_level level, bool json);

/* Parses "debug", "info", "warn", "error"; -1 for anything else. */
int log_level_parse(const char *name);

bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__);                             \
    } while (0)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
