/* The server's configuration (protocol §12): every variable with its default,
 * read from the environment, with a .env file filling in what the environment
 * does not set, and validated once at start-up so the rest of the code can
 * trust every bound it reads here. */
#ifndef CHATD_UTIL_CONFIG_H
#define CHATD_UTIL_CONFIG_H

#include "crypto/aead.h"
#include "util/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_JWT_SECRET_MIN 32
#define CONFIG_MAX_WORKERS 64

/* Plain data: no pointers, nothing to free. Strings are NUL-terminated and ""
 * when unset. */
struct config {
    char host[256];
    int port; /* 0: an ephemeral port (tests) */
    char database_url[1024];
    char redis_url[512];
    char jwt_secret[512];
    size_t jwt_secret_len;
    char jwt_issuer[256];
    char jwt_audience[256];
    /* MESSAGE_ENCRYPTION_KEY under MESSAGE_ENCRYPTION_KEY_ID (default 1) is
     * current; MESSAGE_ENCRYPTION_OLD_KEYS ("id:hex,id:hex") only decrypt. */
    struct aead_keyring keys;
    char tls_cert_file[1024];
    char tls_key_file[1024];
    int workers; /* default: the number of online CPUs, at most CONFIG_MAX_WORKERS */
    int max_connections, max_connections_per_ip, max_connections_per_user;
    size_t max_frame_bytes, max_send_queue_bytes;
    int max_message_length, max_group_members;
    int rate_limit_messages;
    int64_t rate_limit_window_ms;
    int64_t auth_timeout_ms, heartbeat_interval_ms, idle_timeout_ms, revocation_check_ms;
    int64_t resume_window_ms;
    int resume_max_events;
    int db_pool_size;
    int pfp_cache_max_size;
    int64_t pfp_cache_duration_ms;
    int message_cache_size;
    char allowed_origins[2048]; /* comma-separated; "" = any origin */
    int log_level;              /* enum log_level */
    bool log_json;
};

/* Fills c from environ and the .env file at dotenv_path (NULL: "./.env"; a
 * missing file is fine). A variable set in the environment, even to "", wins
 * over the file; an empty value means "use the default". Returns 0, or
 * CHAT_E_CONFIG with one sentence in err naming the variable (or the .env line)
 * and what is wrong; c is then zeroed. Secret values are never quoted in err.
 * The .env format: NAME=VALUE lines, blank lines, "#" comments (also after an
 * unquoted value, following a blank), an optional "export " prefix, values in
 * optional 'single' (literal) or "double" quotes (\", \\ and \n understood);
 * a later line overrides an earlier one. */
int config_load(struct config *c, const char *dotenv_path, char *err, size_t errlen);

/* The same, from a NULL-terminated array of "NAME=VALUE" strings (env may be
 * NULL) instead of environ; for tests. */
int config_load_from(struct config *c, char *const *env, const char *dotenv_path, char *err,
                     size_t errlen);

#endif
