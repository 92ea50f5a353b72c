/* Reads and validates the configuration: see config.h. The variables live in
 * two tables (strings and integers) with their defaults and accepted ranges;
 * the few with rules of their own (secrets, keys, URLs, logging) follow. */
#include "util/config.h"

#include "util/buf.h"
#include "util/error.h"
#include "util/wipe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOTENV_MAX_BYTES (1024 * 1024)
#define CONFIG_DAY_MS 86400000
#define CONFIG_KEY_ID_MAX 2147483647 /* key ids fit a signed 32-bit column */

static int config_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CHAT_E_CONFIG;
}

static bool config_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char *config_skip_blanks(char *p)
{
    while (config_is_blank(*p)) p++;
    return p;
}

/* ---- where values come from: the environment, then the .env file ---------- */

struct dotenv_entry {
    const char *name;
    const char *value;
};

struct config_source {
    char *const *env;
    char *text; /* the .env file, decoded in place; entries point into it */
    size_t text_len;
    struct dotenv_entry *entries;
    size_t count, cap;
};

/* The value of name, or NULL when neither the environment nor the file sets
 * it. A later .env line overrides an earlier one. */
static const char *config_get(const struct config_source *src, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = src->env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    for (size_t i = src->count; i-- > 0;)
        if (strcmp(src->entries[i].name, name) == 0) return src->entries[i].value;
    return NULL;
}

/* Decodes the value starting at p in place. 'Single' quotes are literal;
 * "double" quotes understand \", \\ and \n; an unquoted value runs to the end
 * of the line or to a '#' that starts it or follows a blank, trailing blanks
 * dropped. Returns NULL or what is wrong. */
static const char *dotenv_value(char *p)
{
    char quote = *p;
    if (quote != '\'' && quote != '"') {
        char *end = p;
        for (char *q = p; *q; q++) {
            if (*q == '#' && (q == p || config_is_blank(q[-1]))) break;
            if (!config_is_blank(*q)) end = q + 1;
        }
        *end = '\0';
        return NULL;
    }
    char *out = p, *q = p + 1;
    for (; *q && *q != quote; q++) {
        if (quote == '"' && q[0] == '\\' && (q[1] == '"' || q[1] == '\\' || q[1] == 'n')) {
            q++;
            *out++ = *q == 'n' ? '\n' : *q;
        } else {
            *out++ = *q;
        }
    }
    if (*q != quote) return "the quoted value has no closing quote";
    q = config_skip_blanks(q + 1);
    if (*q != '\0' && *q != '#') return "there is text after the closing quote";
    *out = '\0';
    return NULL;
}

static bool dotenv_name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses one NUL-terminated line in place. Returns NULL or what is wrong. */
static const char *dotenv_line(struct config_source *src, char *line)
{
    char *p = config_skip_blanks(line);
    if (*p == '\0' || *p == '#') return NULL;
    if (strncmp(p, "export", 6) == 0 && config_is_blank(p[6])) p = config_skip_blanks(p + 6);

    char *name = p;
    if (!dotenv_name_char(*p, true)) return "expected NAME=VALUE";
    while (dotenv_name_char(*p, false)) p++;
    char *name_end = p;
    p = config_skip_blanks(p);
    if (*p != '=') return "expected NAME=VALUE";
    char *value = config_skip_blanks(p + 1);
    *name_end = '\0';
    const char *why = dotenv_value(value);
    if (why) return why;

    if (src->count == src->cap) {
        size_t cap = src->cap ? 2 * src->cap : 32;
        struct dotenv_entry *entries = realloc(src->entries, cap * sizeof *entries);
        if (!entries) return "out of memory";
        src->entries = entries;
        src->cap = cap;
    }
    src->entries[src->count].name = name;
    src->entries[src->count].value = value;
    src->count++;
    return NULL;
}

/* Reads the file at path whole into src->text. A missing file is fine. */
static int dotenv_read(struct config_source *src, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return config_error(err, errlen, "The .env file %s cannot be opened: %s.", path,
                            strerror(errno));
    }
    buf b;
    buf_init(&b, DOTENV_MAX_BYTES);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = buf_append(&b, chunk, n);
    if (rc == 0 && ferror(f)) rc = CHAT_E_IO;
    fclose(f);
    if (rc == 0) rc = buf_append_byte(&b, '\0'); /* an empty file still gets a text */
    if (rc != 0) {
        wipe_secret(b.data, b.len);
        buf_free(&b);
        return config_error(err, errlen, "The .env file %s cannot be read: %s.", path,
                            rc == CHAT_E_TOO_BIG ? "it is larger than 1 MiB" : "read error");
    }
    src->text = (char *)buf_detach(&b, &src->text_len);
    return 0;
}

static int dotenv_load(struct config_source *src, const char *path, char *err, size_t errlen)
{
    int rc = dotenv_read(src, path, err, errlen);
    if (rc != 0 || !src->text) return rc;
    if (strlen(src->text) != src->text_len - 1)
        return config_error(err, errlen, "The .env file %s contains a NUL byte.", path);

    char *line = src->text;
    for (unsigned line_no = 1; line; line_no++) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\r') line[n - 1] = '\0';
        const char *why = dotenv_line(src, line);
        if (why) return config_error(err, errlen, "%s line %u: %s.", path, line_no, why);
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

static void dotenv_free(struct config_source *src)
{
    if (src->text) wipe_secret(src->text, src->text_len); /* it may hold secrets */
    free(src->text);
    free(src->entries);
}

/* ---- strings ---------------------------------------------------------------- */

struct config_string {
    const char *name;
    const char *fallback; /* "" when unset by default */
    size_t offset, size;
};

#define CONFIG_STRING(name, fallback, field)                                                       \
    {                                                                                              \
        name, fallback, offsetof(struct config, field), sizeof(((struct config *)0)->field)        \
    }

static const struct config_string config_strings[] = {
    CONFIG_STRING("HOST", "0.0.0.0", host),
    CONFIG_STRING("DATABASE_URL", "sqlite:./data/chat.db", database_url),
    CONFIG_STRING("REDIS_URL", "", redis_url),
    CONFIG_STRING("JWT_SECRET", "", jwt_secret),
    CONFIG_STRING("JWT_ISSUER", "", jwt_issuer),
    CONFIG_STRING("JWT_AUDIENCE", "", jwt_audience),
    CONFIG_STRING("TLS_CERT_FILE", "", tls_cert_file),
    CONFIG_STRING("TLS_KEY_FILE", "", tls_key_file),
    CONFIG_STRING("ALLOWED_ORIGINS", "", allowed_origins),
};

static int config_read_string(struct config *c, const struct config_source *src,
                              const struct config_string *var, char *err, size_t errlen)
{
    const char *s = config_get(src, var->name);
    if (!s || !*s) s = var->fallback;
    size_t n = strlen(s);
    if (n >= var->size)
        return config_error(err, errlen, "%s is %zu bytes long; it must be at most %zu bytes.",
                            var->name, n, var->size - 1);
    memcpy((char *)c + var->offset, s, n + 1);
    return 0;
}

/* ---- integers ---------------------------------------------------------------- */

enum config_int_kind { CONFIG_INT, CONFIG_INT64, CONFIG_SIZE };

#define CONFIG_FALLBACK_CPUS (-1) /* the default of WORKERS */

struct config_integer {
    const char *name;
    int64_t fallback, min, max;
    size_t offset;
    enum config_int_kind kind;
};

/* The kind follows the field's type, so the table cannot store an int64_t
 * into an int. */
/* clang-format off */
#define CONFIG_INTEGER(name, fallback, min, max, field)                                            \
    {name, fallback, min, max, offsetof(struct config, field),                                     \
     _Generic(((struct config *)0)->field, int: CONFIG_INT, int64_t: CONFIG_INT64,                 \
              size_t: CONFIG_SIZE)}
/* clang-format on */

static const struct config_integer config_integers[] = {
    CONFIG_INTEGER("PORT", 3001, 0, 65535, port),
    CONFIG_INTEGER("WORKERS", CONFIG_FALLBACK_CPUS, 1, CONFIG_MAX_WORKERS, workers),
    CONFIG_INTEGER("MAX_CONNECTIONS", 10000, 1, 10000000, max_connections),
    CONFIG_INTEGER("MAX_CONNECTIONS_PER_IP", 100, 1, 10000000, max_connections_per_ip),
    CONFIG_INTEGER("MAX_CONNECTIONS_PER_USER", 10, 1, 100000, max_connections_per_user),
    CONFIG_INTEGER("MAX_FRAME_BYTES", 65536, 125, 16 * 1024 * 1024, max_frame_bytes),
    CONFIG_INTEGER("MAX_SEND_QUEUE_BYTES", 1048576, 1024, 1024 * 1024 * 1024, max_send_queue_bytes),
    CONFIG_INTEGER("MAX_MESSAGE_LENGTH", 5000, 1, 1048576, max_message_length),
    CONFIG_INTEGER("MAX_GROUP_MEMBERS", 50, 1, 100000, max_group_members),
    CONFIG_INTEGER("RATE_LIMIT_MESSAGES", 30, 1, 1000000, rate_limit_messages),
    CONFIG_INTEGER("RATE_LIMIT_WINDOW_MS", 60000, 1, CONFIG_DAY_MS, rate_limit_window_ms),
    CONFIG_INTEGER("AUTH_TIMEOUT_MS", 30000, 1, CONFIG_DAY_MS, auth_timeout_ms),
    CONFIG_INTEGER("HEARTBEAT_INTERVAL_MS", 30000, 1, CONFIG_DAY_MS, heartbeat_interval_ms),
    CONFIG_INTEGER("IDLE_TIMEOUT_MS", 180000, 1, CONFIG_DAY_MS, idle_timeout_ms),
    CONFIG_INTEGER("REVOCATION_CHECK_MS", 60000, 1, CONFIG_DAY_MS, revocation_check_ms),
    CONFIG_INTEGER("RESUME_WINDOW_MS", 300000, 1, CONFIG_DAY_MS, resume_window_ms),
    CONFIG_INTEGER("RESUME_MAX_EVENTS", 2000, 1, 1000000, resume_max_events),
    CONFIG_INTEGER("DB_POOL_SIZE", 8, 1, 256, db_pool_size),
    CONFIG_INTEGER("PFP_CACHE_MAX_SIZE", 1000, 1, 10000000, pfp_cache_max_size),
    CONFIG_INTEGER("PFP_CACHE_DURATION_MS", 300000, 1, CONFIG_DAY_MS, pfp_cache_duration_ms),
    CONFIG_INTEGER("MESSAGE_CACHE_SIZE", 100, 1, 100000, message_cache_size),
};

/* Parses s[0..len) as an optional '-' and decimal digits, nothing else. 0, -1
 * when it is not an integer, -2 when it does not fit an int64_t. */
static int config_parse_integer(const char *s, size_t len, int64_t *out)
{
    bool negative = len > 0 && s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == len) return -1;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        int digit = s[i] - '0';
        if (v > (INT64_MAX - digit) / 10) return -2;
        v = v * 10 + digit;
    }
    *out = negative ? -v : v;
    return 0;
}

/* Reads name as an integer within [min, max], or fallback when unset. */
static int config_read_integer(const struct config_source *src, const char *name, int64_t fallback,
                               int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
    const char *s = config_get(src, name);
    if (!s || !*s) {
        *out = fallback;
        return 0;
    }
    int rc = config_parse_integer(s, strlen(s), out);
    if (rc == 0 && *out >= min && *out <= max) return 0;
    return config_error(
        err, errlen, "%s is \"%.64s\", which is %s; it must be an integer from %lld to %lld.", name,
        s, rc == -1 ? "not an integer" : "out of range", (long long)min, (long long)max);
}

static int64_t config_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : n;
}

static int config_read_integers(struct config *c, const struct config_source *src, char *err,
                                size_t errlen)
{
    for (size_t i = 0; i < sizeof config_integers / sizeof config_integers[0]; i++) {
        const struct config_integer *var = &config_integers[i];
        int64_t fallback =
            var->fallback == CONFIG_FALLBACK_CPUS ? config_online_cpus() : var->fallback;
        int64_t v;
        int rc = config_read_integer(src, var->name, fallback, var->min, var->max, &v, err, errlen);
        if (rc != 0) return rc;
        void *field = (char *)c + var->offset;
        switch (var->kind) {
        case CONFIG_INT:
            *(int *)field = (int)v;
            break;
        case CONFIG_INT64:
            *(int64_t *)field = v;
            break;
        case CONFIG_SIZE:
            *(size_t *)field = (size_t)v;
            break;
        }
    }
    return 0;
}

/* ---- variables with rules of their own ------------------------------------- */

static bool config_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int config_check_strings(struct config *c, char *err, size_t errlen)
{
    if (!config_starts_with(c->database_url, "sqlite:") &&
        !config_starts_with(c->database_url, "postgres://") &&
        !config_starts_with(c->database_url, "postgresql://"))
        return config_error(err, errlen,
                            "DATABASE_URL names no supported database; it must start with "
                            "\"sqlite:\", \"postgres://\" or \"postgresql://\".");
    if (c->redis_url[0] && !config_starts_with(c->redis_url, "redis://"))
        return config_error(err, errlen,
                            "REDIS_URL is not a Redis URL; it must start with \"redis://\".");

    c->jwt_secret_len = strlen(c->jwt_secret);
    if (c->jwt_secret_len == 0)
        return config_error(err, errlen,
                            "JWT_SECRET is not set; it must be the secret shared with the user "
                            "service, at least %d bytes long.",
                            CONFIG_JWT_SECRET_MIN);
    if (c->jwt_secret_len < CONFIG_JWT_SECRET_MIN)
        return config_error(err, errlen,
                            "JWT_SECRET is %zu bytes long; it must be at least %d bytes.",
                            c->jwt_secret_len, CONFIG_JWT_SECRET_MIN);

    if (!c->tls_cert_file[0] != !c->tls_key_file[0])
        return config_error(err, errlen,
                            "%s is set but %s is not; set both to serve wss://, or neither.",
                            c->tls_cert_file[0] ? "TLS_CERT_FILE" : "TLS_KEY_FILE",
                            c->tls_cert_file[0] ? "TLS_KEY_FILE" : "TLS_CERT_FILE");
    return 0;
}

static int config_read_logging(struct config *c, const struct config_source *src, char *err,
                               size_t errlen)
{
    const char *level = config_get(src, "LOG_LEVEL");
    const char *format = config_get(src, "LOG_FORMAT");
    c->log_level = level && *level ? log_level_parse(level) : LOG_INFO;
    if (c->log_level < 0)
        return config_error(err, errlen,
                            "LOG_LEVEL is \"%.64s\", which is not a level; it must be one of "
                            "debug, info, warn, error.",
                            level);
    if (!format || !*format || strcmp(format, "text") == 0) {
        c->log_json = false;
    } else if (strcmp(format, "json") == 0) {
        c->log_json = true;
    } else {
        return config_error(err, errlen,
                            "LOG_FORMAT is \"%.64s\", which is not a format; it must be text or "
                            "json.",
                            format);
    }
    return 0;
}

#define CONFIG_OLD_KEYS "MESSAGE_ENCRYPTION_OLD_KEYS"

/* Adds one "id:hex" entry, p[0..end), of MESSAGE_ENCRYPTION_OLD_KEYS. */
static int config_read_old_key(struct config *c, const char *p, const char *end, unsigned entry,
                               char *err, size_t errlen)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    size_t hex_len = colon ? (size_t)(end - colon - 1) : 0;
    int64_t id = 0;
    if (!colon || config_parse_integer(p, (size_t)(colon - p), &id) != 0 || id < 1 ||
        id > CONFIG_KEY_ID_MAX || hex_len != 2 * AEAD_KEY_BYTES)
        return config_error(err, errlen,
                            CONFIG_OLD_KEYS " entry %u is not of the form id:hex; each entry must "
                                            "be a key id from 1 to %d, a colon and 64 hex digits.",
                            entry, CONFIG_KEY_ID_MAX);
    if (c->keys.count == AEAD_MAX_KEYS)
        return config_error(err, errlen,
                            CONFIG_OLD_KEYS " has more than %d entries; at most %d old keys are "
                                            "accepted.",
                            AEAD_MAX_KEYS - 1, AEAD_MAX_KEYS - 1);

    char hex[2 * AEAD_KEY_BYTES + 1];
    uint8_t key[AEAD_KEY_BYTES];
    memcpy(hex, colon + 1, hex_len);
    hex[hex_len] = '\0';
    int rc = 0;
    if (aead_key_parse_hex(hex, key) != 0)
        rc = config_error(err, errlen,
                          CONFIG_OLD_KEYS " entry %u has a key that is not hex; each key must be "
                                          "64 hex digits.",
                          entry);
    else if (aead_keyring_add(&c->keys, (uint32_t)id, key) != 0)
        rc = config_error(err, errlen,
                          CONFIG_OLD_KEYS " entry %u repeats key id %lld; every key id must be "
                                          "unique, MESSAGE_ENCRYPTION_KEY_ID included.",
                          entry, (long long)id);
    wipe_secret(hex, sizeof hex);
    wipe_secret(key, sizeof key);
    return rc;
}

/* Adds the decryption-only keys of "id:hex,id:hex" (blanks around entries
 * allowed) to the ring. */
static int config_read_old_keys(struct config *c, const char *list, char *err, size_t errlen)
{
    if (!list || !*list) return 0;
    const char *p = list;
    for (unsigned entry = 1; p; entry++) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && config_is_blank(*p)) p++;
        while (end > p && config_is_blank(end[-1])) end--;
        int rc = config_read_old_key(c, p, end, entry, err, errlen);
        if (rc != 0) return rc;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int config_read_keys(struct config *c, const struct config_source *src, char *err,
                            size_t errlen)
{
    const char *hex = config_get(src, "MESSAGE_ENCRYPTION_KEY");
    if (!hex || !*hex)
        return config_error(err, errlen,
                            "MESSAGE_ENCRYPTION_KEY is not set; it must be 64 hex digits (32 "
                            "bytes), e.g. from `openssl rand -hex 32`.");
    uint8_t key[AEAD_KEY_BYTES];
    if (strlen(hex) != 2 * AEAD_KEY_BYTES)
        return config_error(err, errlen,
                            "MESSAGE_ENCRYPTION_KEY is %zu characters long; it must be exactly 64 "
                            "hex digits (32 bytes).",
                            strlen(hex));
    if (aead_key_parse_hex(hex, key) != 0)
        return config_error(err, errlen,
                            "MESSAGE_ENCRYPTION_KEY holds a character that is not a hex digit; it "
                            "must be exactly 64 hex digits (32 bytes).");
    int64_t id;
    int rc = config_read_integer(src, "MESSAGE_ENCRYPTION_KEY_ID", 1, 1, CONFIG_KEY_ID_MAX, &id,
                                 err, errlen);
    if (rc == 0) rc = aead_keyring_add(&c->keys, (uint32_t)id, key); /* the first: current */
    wipe_secret(key, sizeof key);
    if (rc == 0) rc = config_read_old_keys(c, config_get(src, CONFIG_OLD_KEYS), err, errlen);
    return rc;
}

/* ---- public -------------------------------------------------------------------- */

static int config_fill(struct config *c, const struct config_source *src, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof config_strings / sizeof config_strings[0]; i++) {
        int rc = config_read_string(c, src, &config_strings[i], err, errlen);
        if (rc != 0) return rc;
    }
    int rc = config_check_strings(c, err, errlen);
    if (rc == 0) rc = config_read_integers(c, src, err, errlen);
    if (rc == 0) rc = config_read_logging(c, src, err, errlen);
    if (rc == 0) rc = config_read_keys(c, src, err, errlen);
    return rc;
}

int config_load_from(struct config *c, char *const *env, const char *dotenv_path, char *err,
                     size_t errlen)
{
    struct config_source src = {.env = env};
    if (err && errlen > 0) err[0] = '\0';
    memset(c, 0, sizeof *c);
    int rc = dotenv_load(&src, dotenv_path ? dotenv_path : "./.env", err, errlen);
    if (rc == 0) rc = config_fill(c, &src, err, errlen);
    dotenv_free(&src);
    if (rc != 0) wipe_secret(c, sizeof *c);
    return rc;
}

int config_load(struct config *c, const char *dotenv_path, char *err, size_t errlen)
{
    return config_load_from(c, environ, dotenv_path, err, errlen);
}
