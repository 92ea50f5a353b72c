/* The storage interface of chatd. Event loops never touch the database: they
 * fill a store_op and submit it; a storage thread collects whatever has been
 * submitted, runs the whole batch on the engine chosen by DATABASE_URL in one
 * transaction (group commit: one commit and one sync for many operations), and
 * then calls each operation's done callback. The engine is a small vtable, so
 * SQLite and PostgreSQL sit behind the same calls. An engine that can use
 * several connections (PostgreSQL) gets one storage thread per connection;
 * each op goes to a thread chosen by its user, so one user's operations run
 * in the order they were submitted. */
#ifndef CHATD_STORE_STORE_H
#define CHATD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_JTI_MAX 255
#define STORE_CLIENT_MESSAGE_ID_MAX 256 /* bytes: 64 code points of up to 4 bytes */
#define STORE_HISTORY_MAX 100

enum store_op_kind {
    STORE_OP_PING,       /* does the database answer (readiness) */
    STORE_OP_AUTH,       /* revocation and existence checks for a verified token */
    STORE_OP_PROFILE,    /* one user's public profile */
    STORE_OP_DM_SEND,    /* relationship checks, then an idempotent insert of a DM */
    STORE_OP_HISTORY,    /* one page of a conversation, newest page first */
    STORE_OP_REVALIDATE, /* are these sessions' tokens and users still valid */
};

/* One authenticated session to re-check (STORE_OP_REVALIDATE). */
struct store_session {
    uint64_t conn_id; /* the caller's, passed through */
    int64_t user_id;
    char *jti;  /* owned by the op */
    int status; /* out: 0, CHAT_E_TOKEN_REVOKED or CHAT_E_USER_NOT_FOUND */
};

/* A user as the chat shows it (users_auth joined with user_profile_info).
 * The strings are owned by the op that holds the struct; NULL when absent. */
struct store_user {
    int64_t user_id;
    char *username;
    char *display_name;
    char *profile_picture;
};

/* A stored message. Content is kept encrypted: the store never sees plain
 * text, the chat layer seals and opens it (crypto/aead.h). Zero ids mean
 * "none" (group_id for a DM, recipient_id and conversation_id for a group
 * message, reply_to_id when not a reply, edited_at_ms when never edited). */
struct store_message {
    int64_t message_id;
    int64_t conversation_id;
    int64_t group_id;
    int64_t sender_id;
    int64_t recipient_id;
    int64_t reply_to_id;
    int64_t created_at_ms; /* Unix epoch milliseconds, set by the store at commit */
    int64_t edited_at_ms;
    bool deleted;        /* deleted for everyone: ciphertext is NULL */
    uint32_t key_id;     /* which MESSAGE_ENCRYPTION_KEY sealed the content */
    uint8_t *ciphertext; /* owned by the op; aead format (nonce|ciphertext|tag) */
    size_t ciphertext_len;
    char *client_message_id; /* NULL when the sender gave none */
    struct store_user sender;
};

struct store_op;
typedef void (*store_done_fn)(struct store_op *op);

struct store_op {
    enum store_op_kind kind;
    /* Result, set by the store before done runs: 0 or a CHAT_E_* code.
     * CHAT_E_UNAVAILABLE whenever the database could not be used. */
    int status;
    /* Called on the storage thread once status and results are set. The
     * callback owns the op from then on (it usually hands it to its loop). */
    store_done_fn done;
    void *owner;           /* for the callback's use */
    struct store_op *next; /* private to the store */

    union {
        /* in: user_id, jti. out: user, and following: the users user_id
         * follows with no block either way (for online_users). status: 0,
         * CHAT_E_USER_NOT_FOUND, CHAT_E_TOKEN_REVOKED (jti is in
         * jwt_revocation). */
        struct {
            int64_t user_id;
            char jti[STORE_JTI_MAX + 1];
            struct store_user user;
            int64_t *following;
            size_t following_count;
        } auth;

        /* in: user_id. out: user. status: 0, CHAT_E_USER_NOT_FOUND. */
        struct {
            int64_t user_id;
            struct store_user user;
        } profile;

        /* in: everything up to rate_limited; the op owns ciphertext.
         * Checks, in order: an earlier message of the sender with the same
         * client_message_id (then out.duplicate is true, message is the
         * stored one, nothing else runs); recipient exists (USER_NOT_FOUND);
         * recipient is not the sender (INVALID_REQUEST, protocol §5);
         * reply_to_id names a message of the same conversation (NOT_FOUND);
         * a block either way (BLOCKED); sender follows recipient
         * (NOT_FOLLOWING); rate_limited set by the caller (RATE_LIMITED).
         * Then inserts the message, creating the conversation on first use
         * (USER_NOT_FOUND when the sender's own row is gone by then).
         * out: message (with sender filled in), recipient, duplicate. */
        struct {
            int64_t sender_id;
            int64_t recipient_id;
            int64_t reply_to_id;
            uint32_t key_id;
            uint8_t *ciphertext;
            size_t ciphertext_len;
            char client_message_id[STORE_CLIENT_MESSAGE_ID_MAX + 1]; /* "" when none */
            bool rate_limited;
            struct store_message message;
            struct store_user recipient;
            bool duplicate;
        } dm_send;

        /* in: user_id (the reader) and either conversation_id or with_user_id;
         * before_id (0: from the newest); limit 1..STORE_HISTORY_MAX.
         * status: 0; CHAT_E_NOT_FOUND when the conversation does not exist or
         * user_id is not one of its two users; with_user_id naming no user
         * is CHAT_E_USER_NOT_FOUND; naming a user with no conversation yet
         * gives 0 messages and conversation_id 0.
         * out: conversation_id, messages oldest first, has_more (older ones
         * exist). Messages the reader deleted for themselves are left out. */
        struct {
            int64_t user_id;
            int64_t conversation_id;
            int64_t with_user_id;
            int64_t before_id;
            int limit;
            struct store_message *messages;
            size_t count;
            bool has_more;
        } history;

        /* in: sessions[0..count) (owned). out: each session's status.
         * A revoked jti wins over a deleted user. */
        struct {
            struct store_session *sessions;
            size_t count;
        } revalidate;
    };
};

struct store;

/* Opens the engine named by database_url ("sqlite:<path>",
 * "postgres://…" or "postgresql://…"), applies pending migrations and starts
 * the storage threads: pool_size of them (DB_POOL_SIZE), each with its own
 * connection, capped by what the engine can use (SQLite: one). On failure
 * returns a CHAT_E_* code and writes a sentence into err; the sentence never
 * repeats the URL, which may hold a password. */
int store_open(struct store **out, const char *database_url, int pool_size, char *err,
               size_t errlen);

/* Queues op for a storage thread. Thread-safe, never blocks on I/O. The
 * store owns op until it calls op->done. Ops of one user (the sender of a
 * DM, the reader of a history page, the user authenticating) always go to
 * the same thread, so they run and complete in submission order; ops with
 * no user (PING, PROFILE, REVALIDATE) go to the threads in turn. */
void store_submit(struct store *store, struct store_op *op);

/* True while the database answers on every connection (what GET /ready
 * reports): false once a ping or a batch has failed, or a batch has been
 * waiting on the database for more than a second and a half. Thread-safe. */
bool store_ready(const struct store *store);

/* The number of storage threads (connections) store_open started. */
int store_pool_size(const struct store *store);

/* "sqlite" or "postgres": what to log instead of DATABASE_URL, which may
 * hold a password. */
const char *store_engine_name(const struct store *store);

/* Runs what was submitted, stops the threads and closes the engine. */
void store_close(struct store *store);

/* A zeroed op of the given kind (NULL when out of memory). */
struct store_op *store_op_new(enum store_op_kind kind);

/* Frees op with every input and result it owns. Accepts NULL. */
void store_op_free(struct store_op *op);

/* Frees and zeroes the results of op, keeping its inputs. Engines call it on
 * an op that fails, so no result is handed back that was not committed. */
void store_op_clear_results(struct store_op *op);

/* Frees the strings of a user / the buffers of a message (not the struct). */
void store_user_clear(struct store_user *user);
void store_message_clear(struct store_message *message);

/* What an engine provides. setup (optional) runs once on the caller of
 * store_open before any thread starts: migrations shared by every
 * connection. open, run_batch, ping, healthy and close run on one storage
 * thread, on the state open made for that thread. run_batch executes
 * ops[0..n) in one transaction where the engine can, sets each op's status
 * and results, and must leave a failing op's error confined to that op.
 * ping is true when the database answers (an engine that lost its
 * connection reconnects here, with its own backoff); healthy (optional, no
 * I/O) is false once the engine knows its connection is gone. */
struct store_engine {
    const char *name;
    int max_connections; /* storage threads this engine can use */
    size_t batch_max;    /* ops per transaction, at most STORE_BATCH_MAX */
    int (*setup)(const char *url, char *err, size_t errlen);
    int (*open)(void **state, const char *url, char *err, size_t errlen);
    void (*run_batch)(void *state, struct store_op **ops, size_t n);
    bool (*ping)(void *state);
    bool (*healthy)(void *state);
    void (*close)(void *state);
};

/* The most ops one transaction carries, whatever the engine. */
#define STORE_BATCH_MAX 512

extern const struct store_engine store_engine_sqlite;

/* The PostgreSQL engine (store/postgres.c). chatd does not link it: it is
 * the one symbol the module chatd-postgres.so is looked up by. */
extern const struct store_engine store_engine_postgres;

/* The PostgreSQL engine for store_open, or NULL with a sentence in err.
 * chatd's (store/postgres_module.c) loads the module chatd-postgres.so from
 * beside its executable, so only a PostgreSQL deployment maps libpq; a
 * program that links the engine in (the PostgreSQL unit tests) defines its
 * own, returning &store_engine_postgres, and the linker leaves chatd's out. */
const struct store_engine *store_engine_postgres_load(char *err, size_t errlen);

#endif
