/* Tests for configuration loading: defaults, the environment over the .env
 * file, the .env syntax, and that every rejected value yields a message
 * naming its variable. */
#include "test.h"

#include "util/config.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SECRET "JWT_SECRET=0123456789abcdef0123456789abcdef"
#define KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY "MESSAGE_ENCRYPTION_KEY=" KEY_HEX
#define OLD_HEX "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define CHARS_64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define NO_DOTENV "/nonexistent/chatd-test/.env"

static struct config cfg;
static char err[512];

/* Writes text to a fresh temporary file and returns its path (static). */
static const char *dotenv_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/chatd-config-test-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return NO_DOTENV;
    size_t len = strlen(text);
    CHECK_INT(write(fd, text, len), len);
    close(fd);
    return path;
}

/* Loads with env and, when text is not NULL, a .env file holding it. */
static int load(char *const *env, const char *text)
{
    const char *path = text ? dotenv_file(text) : NO_DOTENV;
    int rc = config_load_from(&cfg, env, path, err, sizeof err);
    if (text) unlink(path);
    return rc;
}

/* ---- defaults ------------------------------------------------------------ */

TEST(defaults_follow_protocol_section_12)
{
    char *env[] = {SECRET, KEY, NULL};
    CHECK_INT(load(env, NULL), 0);
    CHECK_STR(err, "");
    CHECK_STR(cfg.host, "0.0.0.0");
    CHECK_INT(cfg.port, 3001);
    CHECK_STR(cfg.database_url, "sqlite:./data/chat.db");
    CHECK_STR(cfg.redis_url, "");
    CHECK_STR(cfg.jwt_secret, "0123456789abcdef0123456789abcdef");
    CHECK_INT(cfg.jwt_secret_len, 32);
    CHECK_STR(cfg.jwt_issuer, "");
    CHECK_STR(cfg.jwt_audience, "");
    CHECK_INT(cfg.keys.count, 1);
    CHECK_INT(cfg.keys.current_id, 1);
    CHECK_INT(cfg.keys.keys[0].key[1], 0x11);
    CHECK_STR(cfg.tls_cert_file, "");
    CHECK_STR(cfg.tls_key_file, "");
    CHECK_INT(cfg.max_connections, 10000);
    CHECK_INT(cfg.max_connections_per_ip, 100);
    CHECK_INT(cfg.max_connections_per_user, 10);
    CHECK_INT(cfg.max_frame_bytes, 65536);
    CHECK_INT(cfg.max_send_queue_bytes, 1048576);
    CHECK_INT(cfg.max_message_length, 5000);
    CHECK_INT(cfg.max_group_members, 50);
    CHECK_INT(cfg.rate_limit_messages, 30);
    CHECK_INT(cfg.rate_limit_window_ms, 60000);
    CHECK_INT(cfg.auth_timeout_ms, 30000);
    CHECK_INT(cfg.heartbeat_interval_ms, 30000);
    CHECK_INT(cfg.idle_timeout_ms, 180000);
    CHECK_INT(cfg.revocation_check_ms, 60000);
    CHECK_INT(cfg.resume_window_ms, 300000);
    CHECK_INT(cfg.resume_max_events, 2000);
    CHECK_INT(cfg.db_pool_size, 8);
    CHECK_INT(cfg.pfp_cache_max_size, 1000);
    CHECK_INT(cfg.pfp_cache_duration_ms, 300000);
    CHECK_INT(cfg.message_cache_size, 100);
    CHECK_STR(cfg.allowed_origins, "");
    CHECK_INT(cfg.log_level, LOG_INFO);
    CHECK(!cfg.log_json);
}

TEST(workers_default_to_online_cpus)
{
    char *env[] = {SECRET, KEY, NULL};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(load(env, NULL), 0);
    CHECK_INT(cfg.workers, cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
}

TEST(reads_every_variable)
{
    char *env[] = {SECRET,
                   KEY,
                   "HOST=127.0.0.1",
                   "PORT=0",
                   "DATABASE_URL=postgres://chat@localhost/chat",
                   "REDIS_URL=redis://localhost:6379",
                   "JWT_ISSUER=users",
                   "JWT_AUDIENCE=chat",
                   "MESSAGE_ENCRYPTION_KEY_ID=4",
                   "MESSAGE_ENCRYPTION_OLD_KEYS=2:" OLD_HEX,
                   "TLS_CERT_FILE=/etc/chat/cert.pem",
                   "TLS_KEY_FILE=/etc/chat/key.pem",
                   "WORKERS=3",
                   "MAX_CONNECTIONS=500",
                   "MAX_CONNECTIONS_PER_IP=5",
                   "MAX_CONNECTIONS_PER_USER=2",
                   "MAX_FRAME_BYTES=125",
                   "MAX_SEND_QUEUE_BYTES=4096",
                   "MAX_MESSAGE_LENGTH=100",
                   "MAX_GROUP_MEMBERS=3",
                   "RATE_LIMIT_MESSAGES=5",
                   "RATE_LIMIT_WINDOW_MS=1000",
                   "AUTH_TIMEOUT_MS=1",
                   "HEARTBEAT_INTERVAL_MS=2",
                   "IDLE_TIMEOUT_MS=3",
                   "REVOCATION_CHECK_MS=4",
                   "RESUME_WINDOW_MS=5",
                   "RESUME_MAX_EVENTS=6",
                   "DB_POOL_SIZE=7",
                   "PFP_CACHE_MAX_SIZE=8",
                   "PFP_CACHE_DURATION_MS=9",
                   "MESSAGE_CACHE_SIZE=10",
                   "ALLOWED_ORIGINS=https://a.example,https://b.example",
                   "LOG_LEVEL=debug",
                   "LOG_FORMAT=json",
                   NULL};
    CHECK_INT(load(env, NULL), 0);
    CHECK_STR(err, "");
    CHECK_STR(cfg.host, "127.0.0.1");
    CHECK_INT(cfg.port, 0);
    CHECK_STR(cfg.database_url, "postgres://chat@localhost/chat");
    CHECK_STR(cfg.redis_url, "redis://localhost:6379");
    CHECK_STR(cfg.jwt_issuer, "users");
    CHECK_STR(cfg.jwt_audience, "chat");
    CHECK_INT(cfg.keys.count, 2);
    CHECK_INT(cfg.keys.current_id, 4);
    CHECK_STR(cfg.tls_cert_file, "/etc/chat/cert.pem");
    CHECK_STR(cfg.tls_key_file, "/etc/chat/key.pem");
    CHECK_INT(cfg.workers, 3);
    CHECK_INT(cfg.max_connections, 500);
    CHECK_INT(cfg.max_connections_per_ip, 5);
    CHECK_INT(cfg.max_connections_per_user, 2);
    CHECK_INT(cfg.max_frame_bytes, 125);
    CHECK_INT(cfg.max_send_queue_bytes, 4096);
    CHECK_INT(cfg.max_message_length, 100);
    CHECK_INT(cfg.max_group_members, 3);
    CHECK_INT(cfg.rate_limit_messages, 5);
    CHECK_INT(cfg.rate_limit_window_ms, 1000);
    CHECK_INT(cfg.auth_timeout_ms, 1);
    CHECK_INT(cfg.heartbeat_interval_ms, 2);
    CHECK_INT(cfg.idle_timeout_ms, 3);
    CHECK_INT(cfg.revocation_check_ms, 4);
    CHECK_INT(cfg.resume_window_ms, 5);
    CHECK_INT(cfg.resume_max_events, 6);
    CHECK_INT(cfg.db_pool_size, 7);
    CHECK_INT(cfg.pfp_cache_max_size, 8);
    CHECK_INT(cfg.pfp_cache_duration_ms, 9);
    CHECK_INT(cfg.message_cache_size, 10);
    CHECK_STR(cfg.allowed_origins, "https://a.example,https://b.example");
    CHECK_INT(cfg.log_level, LOG_DEBUG);
    CHECK(cfg.log_json);
}

TEST(empty_value_means_the_default)
{
    char *env[] = {SECRET, KEY, "PORT=", "HOST=", "LOG_LEVEL=", NULL};
    CHECK_INT(load(env, NULL), 0);
    CHECK_INT(cfg.port, 3001);
    CHECK_STR(cfg.host, "0.0.0.0");
    CHECK_INT(cfg.log_level, LOG_INFO);
}

TEST(accepts_every_database_scheme)
{
    static const char *const urls[] = {"DATABASE_URL=sqlite:/tmp/x.db",
                                       "DATABASE_URL=postgres://u:p@h/db",
                                       "DATABASE_URL=postgresql://u@h:5432/db"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char *env[] = {(char *)urls[i], SECRET, KEY, NULL};
        CHECK_INT(load(env, NULL), 0);
        CHECK_STR(cfg.database_url, strchr(urls[i], '=') + 1);
    }
}

TEST(accepts_range_edges)
{
    static const char *const edges[] = {"PORT=65535", "MAX_FRAME_BYTES=16777216", "WORKERS=64",
                                        "WORKERS=1", "MESSAGE_ENCRYPTION_KEY_ID=2147483647"};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        char *env[] = {(char *)edges[i], SECRET, KEY, NULL};
        if (load(env, NULL) != 0) test_fail(__FILE__, __LINE__, "%s refused: %s", edges[i], err);
    }
}

/* ---- the environment and the .env file ----------------------------------- */

TEST(dotenv_fills_what_the_environment_does_not_set)
{
    char *env[] = {"PORT=4000", NULL};
    CHECK_INT(load(env, SECRET "\n" KEY "\nPORT=5000\nHOST=10.0.0.1\n"), 0);
    CHECK_INT(cfg.port, 4000);
    CHECK_STR(cfg.host, "10.0.0.1");
    CHECK_STR(cfg.jwt_secret, "0123456789abcdef0123456789abcdef");
}

TEST(empty_environment_value_still_beats_dotenv)
{
    char *env[] = {"JWT_ISSUER=", NULL};
    CHECK_INT(load(env, SECRET "\n" KEY "\nJWT_ISSUER=users\n"), 0);
    CHECK_STR(cfg.jwt_issuer, "");
}

TEST(dotenv_syntax)
{
    const char *text = "# a comment\n"
                       "\n"
                       "   \t\n"
                       "export " SECRET "\n"
                       "  export   MESSAGE_ENCRYPTION_KEY = '" KEY_HEX "'  # trailing comment\n"
                       "HOST=\"127.0.0.1\"\n"
                       "JWT_AUDIENCE=chat app   # unquoted, comment dropped\r\n"
                       "ALLOWED_ORIGINS=https://a.example#frag\n"
                       "TLS_CERT_FILE=\"/a \\\"b\\\" \\\\c\"\n"
                       "TLS_KEY_FILE='/k # not a comment'\n"
                       "exportable=1\n"
                       "PORT=1\n"
                       "PORT=2";
    CHECK_INT(load(NULL, text), 0);
    CHECK_STR(err, "");
    CHECK_STR(cfg.jwt_secret, "0123456789abcdef0123456789abcdef");
    CHECK_INT(cfg.keys.keys[0].key[0], 0x00);
    CHECK_INT(cfg.keys.keys[0].key[31], 0xff);
    CHECK_STR(cfg.host, "127.0.0.1");
    CHECK_STR(cfg.jwt_audience, "chat app");
    CHECK_STR(cfg.allowed_origins, "https://a.example#frag");
    CHECK_STR(cfg.tls_cert_file, "/a \"b\" \\c");
    CHECK_STR(cfg.tls_key_file, "/k # not a comment");
    CHECK_INT(cfg.port, 2); /* the later line wins */
}

TEST(dotenv_quote_rules)
{
    CHECK_INT(load(NULL, SECRET "\n" KEY "\nJWT_ISSUER='a\\nb'\nJWT_AUDIENCE=\"a\\nb\"\n"), 0);
    CHECK_STR(cfg.jwt_issuer, "a\\nb"); /* single quotes are literal */
    CHECK_STR(cfg.jwt_audience, "a\nb");
    CHECK_INT(load(NULL, SECRET "\n" KEY "\nJWT_ISSUER=\"\"\nHOST=''\n"), 0);
    CHECK_STR(cfg.jwt_issuer, "");
    CHECK_STR(cfg.host, "0.0.0.0");
}

TEST(dotenv_missing_file_is_fine)
{
    char *env[] = {SECRET, KEY, NULL};
    CHECK_INT(config_load_from(&cfg, env, NO_DOTENV, err, sizeof err), 0);
}

TEST(dotenv_empty_file_is_fine)
{
    char *env[] = {SECRET, KEY, NULL};
    CHECK_INT(load(env, ""), 0);
}

TEST(dotenv_malformed_lines_name_the_line)
{
    static const char *const bad[] = {
        "NO_EQUALS_SIGN",         "1NAME=x",
        "NAME-WITH-DASH=x",       "=value",
        "NAME='no closing quote", "NAME=\"no closing quote",
        "NAME=\"x\" junk",        "export",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, SECRET "\n# comment\n%s\n" KEY "\n", bad[i]);
        CHECK_INT(load(NULL, text), CHAT_E_CONFIG);
        if (!strstr(err, "line 3"))
            test_fail(__FILE__, __LINE__, "\"%s\": message \"%s\" names no line 3", bad[i], err);
    }
}

TEST(dotenv_that_cannot_be_read_is_an_error)
{
    char *env[] = {SECRET, KEY, NULL};
    CHECK_INT(config_load_from(&cfg, env, "/tmp", err, sizeof err), CHAT_E_CONFIG);
    CHECK(strstr(err, "/tmp") != NULL);
}

TEST(dotenv_with_a_nul_byte_is_an_error)
{
    static const char text[] = "HOST=a\0b\n";
    char path[] = "/tmp/chatd-config-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, text, sizeof text - 1), sizeof text - 1);
    close(fd);
    char *env[] = {SECRET, KEY, NULL};
    CHECK_INT(config_load_from(&cfg, env, path, err, sizeof err), CHAT_E_CONFIG);
    CHECK(strstr(err, "NUL") != NULL);
    unlink(path);
}

TEST(config_load_reads_the_process_environment)
{
    CHECK_INT(setenv("JWT_SECRET", "process-environment-secret-0123456789", 1), 0);
    CHECK_INT(setenv("MESSAGE_ENCRYPTION_KEY", KEY_HEX, 1), 0);
    CHECK_INT(setenv("MAX_GROUP_MEMBERS", "77", 1), 0);
    CHECK_INT(config_load(&cfg, NO_DOTENV, err, sizeof err), 0);
    CHECK_STR(cfg.jwt_secret, "process-environment-secret-0123456789");
    CHECK_INT(cfg.max_group_members, 77);
    unsetenv("JWT_SECRET");
    unsetenv("MESSAGE_ENCRYPTION_KEY");
    unsetenv("MAX_GROUP_MEMBERS");
}

/* ---- validation ---------------------------------------------------------- */

/* Each entry: a setting that must be refused, and the variable its message
 * must name. */
static const struct {
    const char *setting, *name;
} refused[] = {
    {"JWT_SECRET=", "JWT_SECRET"},
    {"JWT_SECRET=short-secret-31-bytes-012345678", "JWT_SECRET"},
    {"MESSAGE_ENCRYPTION_KEY=", "MESSAGE_ENCRYPTION_KEY"},
    {"MESSAGE_ENCRYPTION_KEY=00112233", "MESSAGE_ENCRYPTION_KEY"},
    {"MESSAGE_ENCRYPTION_KEY=zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
     "MESSAGE_ENCRYPTION_KEY"},
    {"MESSAGE_ENCRYPTION_KEY_ID=0", "MESSAGE_ENCRYPTION_KEY_ID"},
    {"MESSAGE_ENCRYPTION_KEY_ID=2147483648", "MESSAGE_ENCRYPTION_KEY_ID"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=1:" OLD_HEX, "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=2:" OLD_HEX ",2:" OLD_HEX, "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=2" OLD_HEX, "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=x:" OLD_HEX, "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=2:00ff", "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=2:" OLD_HEX ",", "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"MESSAGE_ENCRYPTION_OLD_KEYS=2:"
     "gfeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
     "MESSAGE_ENCRYPTION_OLD_KEYS"},
    {"PORT=65536", "PORT"},
    {"PORT=-1", "PORT"},
    {"PORT=80x", "PORT"},
    {"PORT= 80", "PORT"},
    {"PORT=+80", "PORT"},
    {"PORT=0x50", "PORT"},
    {"PORT=99999999999999999999999", "PORT"},
    {"PORT=-", "PORT"},
    {"HOST=" CHARS_64 CHARS_64 CHARS_64 CHARS_64, /* 256 bytes: one too many */
     "HOST"},
    {"DATABASE_URL=mysql://localhost/chat", "DATABASE_URL"},
    {"DATABASE_URL=sqlite", "DATABASE_URL"},
    {"REDIS_URL=http://localhost:6379", "REDIS_URL"},
    {"TLS_CERT_FILE=/etc/cert.pem", "TLS_KEY_FILE"},
    {"TLS_KEY_FILE=/etc/key.pem", "TLS_CERT_FILE"},
    {"WORKERS=0", "WORKERS"},
    {"WORKERS=65", "WORKERS"},
    {"MAX_CONNECTIONS=0", "MAX_CONNECTIONS"},
    {"MAX_CONNECTIONS_PER_IP=0", "MAX_CONNECTIONS_PER_IP"},
    {"MAX_CONNECTIONS_PER_USER=-3", "MAX_CONNECTIONS_PER_USER"},
    {"MAX_FRAME_BYTES=124", "MAX_FRAME_BYTES"},
    {"MAX_FRAME_BYTES=16777217", "MAX_FRAME_BYTES"},
    {"MAX_SEND_QUEUE_BYTES=0", "MAX_SEND_QUEUE_BYTES"},
    {"MAX_MESSAGE_LENGTH=0", "MAX_MESSAGE_LENGTH"},
    {"MAX_GROUP_MEMBERS=0", "MAX_GROUP_MEMBERS"},
    {"RATE_LIMIT_MESSAGES=0", "RATE_LIMIT_MESSAGES"},
    {"RATE_LIMIT_WINDOW_MS=0", "RATE_LIMIT_WINDOW_MS"},
    {"AUTH_TIMEOUT_MS=0", "AUTH_TIMEOUT_MS"},
    {"HEARTBEAT_INTERVAL_MS=0", "HEARTBEAT_INTERVAL_MS"},
    {"IDLE_TIMEOUT_MS=1.5", "IDLE_TIMEOUT_MS"},
    {"REVOCATION_CHECK_MS=abc", "REVOCATION_CHECK_MS"},
    {"RESUME_WINDOW_MS=0", "RESUME_WINDOW_MS"},
    {"RESUME_MAX_EVENTS=0", "RESUME_MAX_EVENTS"},
    {"DB_POOL_SIZE=0", "DB_POOL_SIZE"},
    {"PFP_CACHE_MAX_SIZE=0", "PFP_CACHE_MAX_SIZE"},
    {"PFP_CACHE_DURATION_MS=0", "PFP_CACHE_DURATION_MS"},
    {"MESSAGE_CACHE_SIZE=0", "MESSAGE_CACHE_SIZE"},
    {"LOG_LEVEL=verbose", "LOG_LEVEL"},
    {"LOG_LEVEL=INFO", "LOG_LEVEL"},
    {"LOG_FORMAT=xml", "LOG_FORMAT"},
};

TEST(every_refused_value_names_its_variable)
{
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        /* The setting comes first, so it wins over the good SECRET and KEY. */
        char *env[] = {(char *)refused[i].setting, SECRET, KEY, NULL};
        err[0] = '\0';
        int rc = load(env, NULL);
        if (rc != CHAT_E_CONFIG)
            test_fail(__FILE__, __LINE__, "\"%s\" was accepted", refused[i].setting);
        else if (!strstr(err, refused[i].name))
            test_fail(__FILE__, __LINE__, "\"%s\": message \"%s\" does not name %s",
                      refused[i].setting, err, refused[i].name);
    }
}

TEST(messages_state_the_accepted_range)
{
    char *env[] = {"MAX_FRAME_BYTES=12", SECRET, KEY, NULL};
    CHECK_INT(load(env, NULL), CHAT_E_CONFIG);
    CHECK_STR(err, "MAX_FRAME_BYTES is \"12\", which is out of range; it must be an integer from "
                   "125 to 16777216.");
    char *junk[] = {"PORT=80x", SECRET, KEY, NULL};
    CHECK_INT(load(junk, NULL), CHAT_E_CONFIG);
    CHECK_STR(err, "PORT is \"80x\", which is not an integer; it must be an integer from 0 to "
                   "65535.");
}

TEST(messages_never_quote_secrets)
{
    char *short_secret[] = {"JWT_SECRET=hunter2-hunter2", KEY, NULL};
    CHECK_INT(load(short_secret, NULL), CHAT_E_CONFIG);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, "at least 32 bytes") != NULL);
    char *bad_key[] = {"MESSAGE_ENCRYPTION_KEY=deadbeefcafe", SECRET, NULL};
    CHECK_INT(load(bad_key, NULL), CHAT_E_CONFIG);
    CHECK(strstr(err, "deadbeef") == NULL);
    char *bad_url[] = {"DATABASE_URL=mysql://root:topsecret@db/chat", SECRET, KEY, NULL};
    CHECK_INT(load(bad_url, NULL), CHAT_E_CONFIG);
    CHECK(strstr(err, "topsecret") == NULL);
}

TEST(failed_load_leaves_the_config_zeroed)
{
    char *env[] = {"PORT=x", SECRET, KEY, NULL};
    CHECK_INT(load(env, NULL), CHAT_E_CONFIG);
    CHECK_INT(cfg.jwt_secret_len, 0);
    CHECK_STR(cfg.jwt_secret, "");
    CHECK_INT(cfg.keys.count, 0);
}

/* ---- keys ---------------------------------------------------------------- */

TEST(old_keys_decrypt_and_the_current_key_seals)
{
    char *env[] = {SECRET, KEY, "MESSAGE_ENCRYPTION_KEY_ID=3",
                   "MESSAGE_ENCRYPTION_OLD_KEYS= 1:" OLD_HEX " , 2:" KEY_HEX, NULL};
    CHECK_INT(load(env, NULL), 0);
    CHECK_STR(err, "");
    CHECK_INT(cfg.keys.count, 3);
    CHECK_INT(cfg.keys.current_id, 3);
    CHECK_INT(cfg.keys.keys[1].id, 1);
    CHECK_INT(cfg.keys.keys[1].key[0], 0xff);
    CHECK_INT(cfg.keys.keys[2].id, 2);

    uint8_t sealed[2 + AEAD_OVERHEAD], plain[2];
    uint32_t id;
    CHECK_INT(aead_seal(&cfg.keys, NULL, 0, (const uint8_t *)"hi", 2, sealed, &id), 0);
    CHECK_INT(id, 3);
    CHECK_INT(aead_open(&cfg.keys, id, NULL, 0, sealed, sizeof sealed, plain), 0);
}

TEST(too_many_old_keys_are_refused)
{
    static char list[4096];
    int n = snprintf(list, sizeof list, "MESSAGE_ENCRYPTION_OLD_KEYS=");
    for (int id = 2; id <= AEAD_MAX_KEYS + 1; id++)
        n += snprintf(list + n, sizeof list - (size_t)n, "%s%d:%s", id > 2 ? "," : "", id, OLD_HEX);
    char *env[] = {SECRET, KEY, list, NULL};
    CHECK_INT(load(env, NULL), CHAT_E_CONFIG);
    CHECK(strstr(err, "MESSAGE_ENCRYPTION_OLD_KEYS") != NULL);
    CHECK(strstr(err, "at most 15") != NULL);
}
