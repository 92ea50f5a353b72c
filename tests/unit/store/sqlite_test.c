/* Tests of the store on its SQLite engine, through the real path: ops go in
 * with store_submit, the storage thread runs them in batches against a file
 * in a fresh temporary directory, and done callbacks wake the test. The
 * test's own connection plays the user service (users, follows, blocks). */
#include "store/sqlite_schema.h"
#include "store/store.h"
#include "store/user_tables.h"
#include "test.h"
#include "util/error.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { ALICE = 1, BOB, CAROL, DAVE, ERIN };

/* ---------------------------------------------------------------------------
 * Fixture: a temp dir, the user-service tables, the store
 * ------------------------------------------------------------------------- */

struct fixture {
    char dir[64];
    char path[128];
    char url[160];
    sqlite3 *db; /* the test's connection, standing in for the user service */
    struct store *store;
};

static void sql(struct fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    char *message = NULL;
    if (sqlite3_exec(f->db, text, NULL, NULL, &message) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", text, message);
    sqlite3_free(message);
    sqlite3_free(text);
}

/* The first column of the first row of a query, as an integer (-1: no row). */
static int64_t sql_int(struct fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *s = NULL;
    int64_t value = -1;
    if (sqlite3_prepare_v2(f->db, text, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        value = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_free(text);
    return value;
}

static void open_store(struct fixture *f)
{
    char err[256] = "";
    int rc = store_open(&f->store, f->url, 1, err, sizeof err);
    if (rc != 0) test_fail(__FILE__, __LINE__, "store_open: %s", err);
}

static void add_user(struct fixture *f, int64_t id, const char *name, const char *display_name)
{
    sql(f, "INSERT INTO users_auth VALUES (%lld, %Q, '2024-01-01T00:00:00Z')", (long long)id, name);
    sql(f, "INSERT INTO user_profile_info VALUES (%lld, %Q, %Q)", (long long)id, display_name,
        display_name ? "https://example.test/p.png" : NULL);
}

static void follow(struct fixture *f, int64_t follower, int64_t followee)
{
    sql(f, "INSERT INTO user_follows VALUES (%lld, %lld, '2024-01-01T00:00:00Z')",
        (long long)follower, (long long)followee);
}

static void block(struct fixture *f, int64_t blocker, int64_t blocked)
{
    sql(f, "INSERT INTO blocked_relationships VALUES (%lld, %lld, '2024-01-01T00:00:00Z')",
        (long long)blocker, (long long)blocked);
}

/* A fresh directory for the database file; nothing is opened. */
static void make_temp_dir(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%.40s/chatd-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(f->dir) != NULL);
    snprintf(f->path, sizeof f->path, "%s/chat.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
}

static void remove_temp_dir(struct fixture *f)
{
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char file[160];
        snprintf(file, sizeof file, "%s%s", f->path, suffixes[i]);
        unlink(file);
    }
    CHECK_INT(rmdir(f->dir), 0);
}

/* Five users; alice and bob follow each other. The store is open. */
static void setup(struct fixture *f)
{
    make_temp_dir(f);
    CHECK_INT(sqlite3_open(f->path, &f->db), SQLITE_OK);
    sqlite3_busy_timeout(f->db, 5000);
    char err[256] = "";
    CHECK_INT(store_user_tables_create_sqlite(f->db, err, sizeof err), 0);
    add_user(f, ALICE, "alice", "Alice");
    add_user(f, BOB, "bob", "Bob");
    add_user(f, CAROL, "carol", NULL);
    add_user(f, DAVE, "dave", "Dave");
    add_user(f, ERIN, "erin", "Erin");
    follow(f, ALICE, BOB);
    follow(f, BOB, ALICE);
    open_store(f);
}

static void teardown(struct fixture *f)
{
    store_close(f->store);
    sqlite3_close(f->db);
    remove_temp_dir(f);
}

/* ---------------------------------------------------------------------------
 * Submitting and waiting, as an event loop would
 * ------------------------------------------------------------------------- */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
};

static void waiter_init(struct waiter *w, int pending)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->pending = pending;
}

static void waiter_signal(struct waiter *w)
{
    pthread_mutex_lock(&w->lock);
    w->pending--;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void waiter_wait(struct waiter *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->pending > 0) pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

static void waiter_done(struct store_op *op)
{
    waiter_signal(op->owner);
}

/* Submits ops[0..n) and returns once every done callback has run. */
static void run_ops(struct fixture *f, struct store_op **ops, int n)
{
    struct waiter w;
    waiter_init(&w, n);
    for (int i = 0; i < n; i++) {
        ops[i]->owner = &w;
        ops[i]->done = waiter_done;
        store_submit(f->store, ops[i]);
    }
    waiter_wait(&w);
}

static int run(struct fixture *f, struct store_op *op)
{
    run_ops(f, &op, 1);
    return op->status;
}

static struct store_op *dm_op(int64_t from, int64_t to, const char *content, const char *client_id)
{
    struct store_op *op = store_op_new(STORE_OP_DM_SEND);
    op->dm_send.sender_id = from;
    op->dm_send.recipient_id = to;
    op->dm_send.key_id = 7;
    op->dm_send.ciphertext_len = strlen(content);
    op->dm_send.ciphertext = malloc(op->dm_send.ciphertext_len);
    memcpy(op->dm_send.ciphertext, content, op->dm_send.ciphertext_len);
    if (client_id)
        snprintf(op->dm_send.client_message_id, sizeof op->dm_send.client_message_id, "%s",
                 client_id);
    return op;
}

/* Sends a DM; returns its status, and its id in *message_id when given. */
static int send_dm(struct fixture *f, int64_t from, int64_t to, const char *content,
                   int64_t *message_id)
{
    struct store_op *op = dm_op(from, to, content, NULL);
    int rc = run(f, op);
    if (message_id) *message_id = op->dm_send.message.message_id;
    store_op_free(op);
    return rc;
}

/* A DM with a reply target and the caller's rate-limit verdict. */
static int send_dm_with(struct fixture *f, int64_t from, int64_t to, int64_t reply_to_id,
                        bool rate_limited)
{
    struct store_op *op = dm_op(from, to, "x", NULL);
    op->dm_send.reply_to_id = reply_to_id;
    op->dm_send.rate_limited = rate_limited;
    int rc = run(f, op);
    CHECK(rc == 0 || op->dm_send.message.message_id == 0);
    CHECK(rc == 0 || op->dm_send.recipient.username == NULL);
    store_op_free(op);
    return rc;
}

static struct store_op *history_op(int64_t reader, int64_t conversation_id, int64_t with_user_id,
                                   int64_t before_id, int limit)
{
    struct store_op *op = store_op_new(STORE_OP_HISTORY);
    op->history.user_id = reader;
    op->history.conversation_id = conversation_id;
    op->history.with_user_id = with_user_id;
    op->history.before_id = before_id;
    op->history.limit = limit;
    return op;
}

static int64_t message_count(struct fixture *f)
{
    return sql_int(f, "SELECT count(*) FROM private_messages");
}

/* ---------------------------------------------------------------------------
 * Opening and migrations
 * ------------------------------------------------------------------------- */

TEST(migrations_are_applied_once)
{
    struct fixture f;
    setup(&f);
    int version = store_sqlite_schema_version();
    CHECK(version >= 1);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM schema_migrations"), version);
    CHECK_INT(sql_int(&f, "SELECT max(version) FROM schema_migrations"), version);
    const char *tables[] = {"conversations", "private_messages",  "message_deletions",
                            "user_status",   "message_reactions", "group_chats",
                            "group_members"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        CHECK_INT(sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE name = %Q", tables[i]), 1);
    CHECK_INT(
        sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE name = 'idx_group_members_both'"), 1);

    store_close(f.store);
    open_store(&f);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM schema_migrations"), version);
    CHECK(store_ready(f.store));
    teardown(&f);
}

TEST(database_runs_in_wal_mode)
{
    struct fixture f;
    setup(&f);
    sqlite3 *db = NULL; /* a new connection reads the mode from the file */
    CHECK_INT(sqlite3_open(f.path, &db), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(s), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    teardown(&f);
}

TEST(open_reports_bad_urls)
{
    struct store *store = (struct store *)1;
    char err[256] = "";
    CHECK_INT(store_open(&store, "mysql://localhost/chat", 1, err, sizeof err), CHAT_E_CONFIG);
    CHECK(store == NULL);
    CHECK(strstr(err, "postgres://") != NULL);
    CHECK_INT(store_open(&store, "sqlite:", 1, err, sizeof err), CHAT_E_CONFIG);
    CHECK_INT(store_open(&store, "sqlite:/nonexistent-dir/x/chat.db", 1, err, sizeof err),
              CHAT_E_IO);
    CHECK(strstr(err, "/nonexistent-dir/x/chat.db") != NULL);
}

TEST(open_without_user_tables_names_the_fix)
{
    struct fixture f;
    make_temp_dir(&f);
    char err[256] = "";
    CHECK_INT(store_open(&f.store, f.url, 1, err, sizeof err), CHAT_E_CONFIG);
    CHECK(f.store == NULL);
    CHECK(strstr(err, "chatctl init") != NULL);
    remove_temp_dir(&f);
}

/* ---------------------------------------------------------------------------
 * PING, AUTH, PROFILE
 * ------------------------------------------------------------------------- */

TEST(ping_answers)
{
    struct fixture f;
    setup(&f);
    struct store_op *op = store_op_new(STORE_OP_PING);
    CHECK_INT(run(&f, op), 0);
    store_op_free(op);
    CHECK(store_ready(f.store));
    teardown(&f);
}

static int auth(struct fixture *f, int64_t user_id, const char *jti, char *username, size_t len)
{
    struct store_op *op = store_op_new(STORE_OP_AUTH);
    op->auth.user_id = user_id;
    snprintf(op->auth.jti, sizeof op->auth.jti, "%s", jti);
    int rc = run(f, op);
    snprintf(username, len, "%s", op->auth.user.username ? op->auth.user.username : "");
    store_op_free(op);
    return rc;
}

TEST(auth_checks_revocation_then_user)
{
    struct fixture f;
    setup(&f);
    char name[32];
    CHECK_INT(auth(&f, ALICE, "jti-1", name, sizeof name), 0);
    CHECK_STR(name, "alice");
    CHECK_INT(auth(&f, 999, "jti-1", name, sizeof name), CHAT_E_USER_NOT_FOUND);
    CHECK_STR(name, "");

    /* revoked whatever expires_at says, past or absent */
    sql(&f, "INSERT INTO jwt_revocation VALUES ('jti-old', '2020-01-01T00:00:00Z',"
            " '2020-01-02T00:00:00Z')");
    sql(&f, "INSERT INTO jwt_revocation VALUES ('jti-forever', '2020-01-01T00:00:00Z', NULL)");
    CHECK_INT(auth(&f, ALICE, "jti-old", name, sizeof name), CHAT_E_TOKEN_REVOKED);
    CHECK_STR(name, "");
    CHECK_INT(auth(&f, ALICE, "jti-forever", name, sizeof name), CHAT_E_TOKEN_REVOKED);
    CHECK_INT(auth(&f, 999, "jti-forever", name, sizeof name), CHAT_E_TOKEN_REVOKED);
    teardown(&f);
}

TEST(profile_joins_users_and_profiles)
{
    struct fixture f;
    setup(&f);
    struct store_op *op = store_op_new(STORE_OP_PROFILE);
    op->profile.user_id = ALICE;
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->profile.user.user_id, ALICE);
    CHECK_STR(op->profile.user.username, "alice");
    CHECK_STR(op->profile.user.display_name, "Alice");
    CHECK_STR(op->profile.user.profile_picture, "https://example.test/p.png");
    store_op_free(op);

    sql(&f, "DELETE FROM user_profile_info WHERE user_id = %d", CAROL);
    op = store_op_new(STORE_OP_PROFILE);
    op->profile.user_id = CAROL;
    CHECK_INT(run(&f, op), 0);
    CHECK_STR(op->profile.user.username, "carol");
    CHECK(op->profile.user.display_name == NULL);
    CHECK(op->profile.user.profile_picture == NULL);
    store_op_free(op);

    op = store_op_new(STORE_OP_PROFILE);
    op->profile.user_id = 999;
    CHECK_INT(run(&f, op), CHAT_E_USER_NOT_FOUND);
    CHECK(op->profile.user.username == NULL);
    store_op_free(op);
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * DM_SEND
 * ------------------------------------------------------------------------- */

TEST(dm_send_creates_one_conversation_for_both_directions)
{
    struct fixture f;
    setup(&f);
    struct store_op *first = dm_op(ALICE, BOB, "sealed-1", "c-1");
    CHECK_INT(run(&f, first), 0);
    struct store_message *m = &first->dm_send.message;
    CHECK(!first->dm_send.duplicate);
    CHECK(m->message_id > 0);
    CHECK(m->conversation_id > 0);
    CHECK_INT(m->group_id, 0);
    CHECK_INT(m->sender_id, ALICE);
    CHECK_INT(m->recipient_id, BOB);
    CHECK_INT(m->key_id, 7);
    CHECK(m->created_at_ms > 1600000000000LL);
    CHECK_INT(m->ciphertext_len, 8);
    CHECK_MEM(m->ciphertext, "sealed-1", 8);
    CHECK_STR(m->client_message_id, "c-1");
    CHECK_INT(m->sender.user_id, ALICE);
    CHECK_STR(m->sender.username, "alice");
    CHECK_STR(m->sender.display_name, "Alice");
    CHECK_INT(first->dm_send.recipient.user_id, BOB);
    CHECK_STR(first->dm_send.recipient.username, "bob");

    struct store_op *reply = dm_op(BOB, ALICE, "sealed-2", NULL);
    reply->dm_send.reply_to_id = m->message_id;
    CHECK_INT(run(&f, reply), 0);
    CHECK_INT(reply->dm_send.message.conversation_id, m->conversation_id);
    CHECK(reply->dm_send.message.message_id > m->message_id);
    CHECK_INT(reply->dm_send.message.reply_to_id, m->message_id);
    CHECK(reply->dm_send.message.client_message_id == NULL);

    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations"), 1);
    CHECK_INT(sql_int(&f, "SELECT last_message_id FROM conversations"),
              reply->dm_send.message.message_id);
    CHECK_INT(sql_int(&f, "SELECT user_a * 10 + user_b FROM conversations"), ALICE * 10 + BOB);
    store_op_free(first);
    store_op_free(reply);
    teardown(&f);
}

TEST(dm_send_checks_in_the_documented_order)
{
    struct fixture f;
    setup(&f);
    follow(&f, ALICE, CAROL);
    follow(&f, ALICE, DAVE);
    follow(&f, ERIN, ALICE);
    int64_t in_alice_carol = 0, in_alice_bob = 0;
    CHECK_INT(send_dm(&f, ALICE, CAROL, "to carol", &in_alice_carol), 0);
    CHECK_INT(send_dm(&f, ALICE, BOB, "to bob", &in_alice_bob), 0);
    block(&f, CAROL, ALICE); /* the recipient blocks the sender */
    block(&f, ALICE, DAVE);  /* the sender blocks the recipient */
    int64_t stored = message_count(&f);

    /* recipient exists, before everything else */
    CHECK_INT(send_dm_with(&f, ALICE, 999, 424242, true), CHAT_E_USER_NOT_FOUND);
    CHECK_INT(send_dm_with(&f, ALICE, ALICE, 0, true), CHAT_E_INVALID_REQUEST);
    /* the reply target, before blocks, follows and the rate limit */
    CHECK_INT(send_dm_with(&f, ALICE, BOB, 424242, true), CHAT_E_NOT_FOUND);
    CHECK_INT(send_dm_with(&f, ALICE, BOB, in_alice_carol, false), CHAT_E_NOT_FOUND);
    CHECK_INT(send_dm_with(&f, ALICE, ERIN, in_alice_bob, true), CHAT_E_NOT_FOUND);
    CHECK_INT(send_dm_with(&f, ALICE, CAROL, in_alice_bob, true), CHAT_E_NOT_FOUND);
    /* blocks either way, before follows and the rate limit */
    CHECK_INT(send_dm_with(&f, ALICE, CAROL, in_alice_carol, true), CHAT_E_BLOCKED);
    CHECK_INT(send_dm_with(&f, CAROL, ALICE, 0, false), CHAT_E_BLOCKED);
    CHECK_INT(send_dm_with(&f, ALICE, DAVE, 0, true), CHAT_E_BLOCKED);
    CHECK_INT(send_dm_with(&f, DAVE, ALICE, 0, false), CHAT_E_BLOCKED);
    /* following is one-way */
    CHECK_INT(send_dm_with(&f, ALICE, ERIN, 0, true), CHAT_E_NOT_FOLLOWING);
    CHECK_INT(send_dm_with(&f, BOB, CAROL, 0, false), CHAT_E_NOT_FOLLOWING);
    /* the rate limit comes last */
    CHECK_INT(send_dm_with(&f, ALICE, BOB, in_alice_bob, true), CHAT_E_RATE_LIMITED);

    CHECK_INT(message_count(&f), stored);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations"), 2);
    CHECK_INT(send_dm_with(&f, ERIN, ALICE, 0, false), 0);
    CHECK_INT(send_dm_with(&f, ALICE, BOB, in_alice_bob, false), 0);
    teardown(&f);
}

TEST(dm_send_duplicate_returns_the_stored_message)
{
    struct fixture f;
    setup(&f);
    struct store_op *op = dm_op(ALICE, BOB, "first", "c-1");
    CHECK_INT(run(&f, op), 0);
    int64_t id = op->dm_send.message.message_id;
    int64_t created = op->dm_send.message.created_at_ms;
    store_op_free(op);
    block(&f, BOB, ALICE); /* would fail a new send; a resend still answers */

    op = dm_op(ALICE, BOB, "second", "c-1");
    op->dm_send.rate_limited = true;
    CHECK_INT(run(&f, op), 0);
    CHECK(op->dm_send.duplicate);
    CHECK_INT(op->dm_send.message.message_id, id);
    CHECK_INT(op->dm_send.message.created_at_ms, created);
    CHECK_INT(op->dm_send.message.ciphertext_len, 5);
    CHECK_MEM(op->dm_send.message.ciphertext, "first", 5);
    CHECK_STR(op->dm_send.message.client_message_id, "c-1");
    CHECK_STR(op->dm_send.message.sender.username, "alice");
    CHECK_INT(op->dm_send.message.recipient_id, BOB);
    store_op_free(op);
    CHECK_INT(message_count(&f), 1);

    /* client ids are per sender */
    sql(&f, "DELETE FROM blocked_relationships");
    op = dm_op(BOB, ALICE, "bob's", "c-1");
    CHECK_INT(run(&f, op), 0);
    CHECK(!op->dm_send.duplicate);
    CHECK(op->dm_send.message.message_id > id);
    store_op_free(op);
    CHECK_INT(message_count(&f), 2);
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * HISTORY
 * ------------------------------------------------------------------------- */

/* Reads one page and checks it holds ids[first..first+count) in order. */
static int64_t check_page(struct fixture *f, struct store_op *op, const int64_t *ids, int first,
                          int count, bool has_more)
{
    CHECK_INT(run(f, op), 0);
    CHECK_INT(op->history.count, count);
    CHECK_INT(op->history.has_more, has_more);
    for (int i = 0; i < count && i < (int)op->history.count; i++)
        CHECK_INT(op->history.messages[i].message_id, ids[first + i]);
    int64_t conversation_id = op->history.conversation_id;
    store_op_free(op);
    return conversation_id;
}

TEST(history_pages_backwards_oldest_first)
{
    struct fixture f;
    setup(&f);
    int64_t ids[25];
    for (int i = 0; i < 25; i++)
        CHECK_INT(send_dm(&f, i % 2 ? BOB : ALICE, i % 2 ? ALICE : BOB, "m", &ids[i]), 0);

    int64_t conversation_id = check_page(&f, history_op(ALICE, 0, BOB, 0, 10), ids, 15, 10, true);
    CHECK(conversation_id > 0);
    check_page(&f, history_op(BOB, conversation_id, 0, ids[15], 10), ids, 5, 10, true);
    check_page(&f, history_op(ALICE, conversation_id, 0, ids[5], 10), ids, 0, 5, false);
    check_page(&f, history_op(ALICE, conversation_id, 0, 0, 25), ids, 0, 25, false);
    check_page(&f, history_op(ALICE, conversation_id, 0, ids[0], 10), ids, 0, 0, false);

    struct store_op *op = history_op(BOB, 0, ALICE, 0, 1);
    CHECK_INT(run(&f, op), 0);
    struct store_message *m = &op->history.messages[0];
    CHECK_INT(m->message_id, ids[24]);
    CHECK_INT(m->sender_id, ALICE);
    CHECK_STR(m->sender.username, "alice");
    CHECK_INT(m->key_id, 7);
    CHECK_MEM(m->ciphertext, "m", 1);
    CHECK(!m->deleted);
    store_op_free(op);
    teardown(&f);
}

TEST(history_leaves_out_what_the_reader_deleted)
{
    struct fixture f;
    setup(&f);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) CHECK_INT(send_dm(&f, ALICE, BOB, "m", &ids[i]), 0);
    sql(&f, "INSERT INTO message_deletions VALUES (%lld, %d, 1)", (long long)ids[2], ALICE);
    sql(&f, "UPDATE private_messages SET content = NULL, deleted_at = 1 WHERE message_id = %lld",
        (long long)ids[1]);

    struct store_op *op = history_op(ALICE, 0, BOB, 0, 10);
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->history.count, 2);
    CHECK_INT(op->history.messages[1].message_id, ids[1]);
    CHECK(op->history.messages[1].deleted);
    CHECK(op->history.messages[1].ciphertext == NULL);
    store_op_free(op);

    op = history_op(BOB, 0, ALICE, 0, 10);
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->history.count, 3);
    store_op_free(op);
    teardown(&f);
}

static int history_status(struct fixture *f, struct store_op *op, int64_t *conversation_id)
{
    int rc = run(f, op);
    CHECK_INT(op->history.count, 0);
    CHECK(op->history.messages == NULL);
    if (conversation_id) *conversation_id = op->history.conversation_id;
    store_op_free(op);
    return rc;
}

TEST(history_is_for_the_two_users_only)
{
    struct fixture f;
    setup(&f);
    int64_t id;
    CHECK_INT(send_dm(&f, ALICE, BOB, "m", &id), 0);
    int64_t conversation_id = sql_int(&f, "SELECT conversation_id FROM conversations");

    CHECK_INT(history_status(&f, history_op(CAROL, conversation_id, 0, 0, 10), NULL),
              CHAT_E_NOT_FOUND);
    CHECK_INT(history_status(&f, history_op(ALICE, conversation_id + 1, 0, 0, 10), NULL),
              CHAT_E_NOT_FOUND);
    int64_t none = -1;
    CHECK_INT(history_status(&f, history_op(CAROL, 0, ALICE, 0, 10), &none), 0);
    CHECK_INT(none, 0);
    CHECK_INT(history_status(&f, history_op(ALICE, 0, 999, 0, 10), &none), CHAT_E_USER_NOT_FOUND);
    CHECK_INT(history_status(&f, history_op(ALICE, 0, ALICE, 0, 10), &none), 0);
    CHECK_INT(history_status(&f, history_op(ALICE, 0, 0, 0, 10), NULL), CHAT_E_INVALID_REQUEST);
    CHECK_INT(history_status(&f, history_op(ALICE, conversation_id, 0, 0, 0), NULL),
              CHAT_E_INVALID_REQUEST);
    CHECK_INT(
        history_status(&f, history_op(ALICE, conversation_id, 0, 0, STORE_HISTORY_MAX + 1), NULL),
        CHAT_E_INVALID_REQUEST);
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * Batches: savepoints, many threads, durability
 * ------------------------------------------------------------------------- */

/* Holds the storage thread inside a done callback until the test opens it,
 * so that whatever is submitted meanwhile becomes one batch. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered;
    bool open;
};

static void gate_done(struct store_op *op)
{
    struct gate *g = op->owner;
    pthread_mutex_lock(&g->lock);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open) pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    store_op_free(op);
}

static void gate_hold(struct fixture *f, struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->entered = g->open = false;
    struct store_op *ping = store_op_new(STORE_OP_PING);
    ping->owner = g;
    ping->done = gate_done;
    store_submit(f->store, ping);
    pthread_mutex_lock(&g->lock);
    while (!g->entered) pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

TEST(a_failing_op_fails_alone_in_its_batch)
{
    struct fixture f;
    setup(&f);
    follow(&f, ALICE, CAROL);
    follow(&f, ALICE, DAVE);
    /* makes the message insert fail after the conversation was created */
    sql(&f, "CREATE TRIGGER refuse BEFORE INSERT ON private_messages WHEN NEW.content = CAST('BAD' "
            "AS BLOB)"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");

    struct gate g;
    gate_hold(&f, &g);
    struct store_op *ops[] = {
        dm_op(ALICE, BOB, "ok-1", NULL),   dm_op(ALICE, CAROL, "BAD", NULL),
        dm_op(ALICE, CAROL, "ok-2", NULL), dm_op(ALICE, DAVE, "BAD", "c-bad"),
        history_op(BOB, 0, ALICE, 0, 10),
    };
    struct waiter w;
    waiter_init(&w, 5);
    for (int i = 0; i < 5; i++) {
        ops[i]->owner = &w;
        ops[i]->done = waiter_done;
        store_submit(f.store, ops[i]);
    }
    gate_open(&g);
    waiter_wait(&w);

    CHECK_INT(ops[0]->status, 0);
    CHECK_INT(ops[1]->status, CHAT_E_INTERNAL);
    CHECK_INT(ops[1]->dm_send.message.message_id, 0);
    CHECK(ops[1]->dm_send.recipient.username == NULL);
    CHECK_INT(ops[2]->status, 0);
    CHECK_INT(ops[3]->status, CHAT_E_INTERNAL);
    CHECK_INT(ops[4]->status, 0);
    CHECK_INT(ops[4]->history.count, 1); /* sees op 0, same transaction */
    /* one batch, one clock reading */
    CHECK_INT(ops[0]->dm_send.message.created_at_ms, ops[2]->dm_send.message.created_at_ms);
    CHECK_INT(message_count(&f), 2);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations WHERE user_b = %d", DAVE), 0);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations WHERE user_b = %d", CAROL), 1);
    for (int i = 0; i < 5; i++) store_op_free(ops[i]);
    teardown(&f);
}

/* One batch of DMs: each conversation's updated_at / last_message_id is
 * written once, with its newest message; a resend inside the same batch is
 * answered with the message stored a moment before; a block written by the
 * user service between two batches holds at once (nothing is cached). */
TEST(a_batch_of_dms_touches_each_conversation_once)
{
    struct fixture f;
    setup(&f);
    follow(&f, ALICE, CAROL);
    struct gate g;
    gate_hold(&f, &g);
    struct store_op *ops[] = {
        dm_op(ALICE, BOB, "1", "b-1"),     dm_op(BOB, ALICE, "2", NULL),
        dm_op(ALICE, CAROL, "3", "c-1"),   dm_op(ALICE, BOB, "4", "b-2"),
        dm_op(ALICE, BOB, "again", "b-1"),
    };
    enum { N = sizeof ops / sizeof ops[0] };
    struct waiter w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        ops[i]->owner = &w;
        ops[i]->done = waiter_done;
        store_submit(f.store, ops[i]);
    }
    gate_open(&g);
    waiter_wait(&w);

    for (int i = 0; i < N; i++) CHECK_INT(ops[i]->status, 0);
    CHECK(!ops[3]->dm_send.duplicate);
    CHECK(ops[4]->dm_send.duplicate);
    CHECK_INT(ops[4]->dm_send.message.message_id, ops[0]->dm_send.message.message_id);
    CHECK_MEM(ops[4]->dm_send.message.ciphertext, "1", 1);
    CHECK_INT(ops[1]->dm_send.message.conversation_id, ops[0]->dm_send.message.conversation_id);
    CHECK_INT(message_count(&f), 4);
    CHECK_INT(sql_int(&f, "SELECT last_message_id FROM conversations WHERE user_b = %d", BOB),
              ops[3]->dm_send.message.message_id);
    CHECK_INT(sql_int(&f, "SELECT last_message_id FROM conversations WHERE user_b = %d", CAROL),
              ops[2]->dm_send.message.message_id);
    CHECK_INT(sql_int(&f, "SELECT updated_at FROM conversations WHERE user_b = %d", BOB),
              ops[3]->dm_send.message.created_at_ms);
    CHECK_STR(ops[3]->dm_send.message.sender.username, "alice");
    CHECK_STR(ops[3]->dm_send.recipient.username, "bob");
    for (int i = 0; i < N; i++) store_op_free(ops[i]);

    block(&f, BOB, ALICE);
    CHECK_INT(send_dm_with(&f, ALICE, BOB, 0, false), CHAT_E_BLOCKED);
    sql(&f, "DELETE FROM blocked_relationships");
    sql(&f, "DELETE FROM user_follows WHERE follower_id = %d AND followee_id = %d", ALICE, BOB);
    CHECK_INT(send_dm_with(&f, ALICE, BOB, 0, false), CHAT_E_NOT_FOLLOWING);
    sql(&f, "DELETE FROM users_auth WHERE user_id = %d", CAROL);
    CHECK_INT(send_dm_with(&f, ALICE, CAROL, 0, false), CHAT_E_USER_NOT_FOUND);
    teardown(&f);
}

#define THREADS 4
#define SENDS_PER_THREAD 250

struct sent {
    struct waiter *waiter;
    atomic_int calls;
    int status;
    int64_t message_id;
};

struct sender {
    struct fixture *f;
    int index;
    struct sent *sent; /* SENDS_PER_THREAD of them */
};

static void sent_done(struct store_op *op)
{
    struct sent *s = op->owner;
    atomic_fetch_add(&s->calls, 1);
    s->status = op->status;
    s->message_id = op->dm_send.message.message_id;
    store_op_free(op);
    waiter_signal(s->waiter);
}

static void *sender_main(void *arg)
{
    struct sender *sender = arg;
    int64_t from = sender->index + 1, to = (sender->index + 1) % THREADS + 1;
    for (int i = 0; i < SENDS_PER_THREAD; i++) {
        char client_id[32];
        snprintf(client_id, sizeof client_id, "t%d-%d", sender->index, i);
        struct store_op *op = dm_op(from, to, "concurrent", client_id);
        op->owner = &sender->sent[i];
        op->done = sent_done;
        store_submit(sender->f->store, op);
    }
    return NULL;
}

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

TEST(ops_from_four_threads_complete_exactly_once)
{
    struct fixture f;
    setup(&f);
    for (int a = 1; a <= THREADS; a++)
        for (int b = 1; b <= THREADS; b++)
            if (a != b && !(a == ALICE && b == BOB) && !(a == BOB && b == ALICE)) follow(&f, a, b);

    static struct sent sent[THREADS * SENDS_PER_THREAD];
    struct waiter w;
    waiter_init(&w, THREADS * SENDS_PER_THREAD);
    struct sender senders[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        senders[t] = (struct sender){&f, t, &sent[t * SENDS_PER_THREAD]};
        for (int i = 0; i < SENDS_PER_THREAD; i++) {
            sent[t * SENDS_PER_THREAD + i].waiter = &w;
            atomic_init(&sent[t * SENDS_PER_THREAD + i].calls, 0);
        }
        pthread_create(&threads[t], NULL, sender_main, &senders[t]);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    waiter_wait(&w);

    static int64_t ids[THREADS * SENDS_PER_THREAD];
    int bad = 0;
    for (int i = 0; i < THREADS * SENDS_PER_THREAD; i++) {
        if (atomic_load(&sent[i].calls) != 1 || sent[i].status != 0) bad++;
        ids[i] = sent[i].message_id;
    }
    CHECK_INT(bad, 0);
    qsort(ids, THREADS * SENDS_PER_THREAD, sizeof ids[0], compare_ids);
    for (int i = 1; i < THREADS * SENDS_PER_THREAD; i++) CHECK(ids[i] > ids[i - 1]);
    CHECK_INT(message_count(&f), THREADS * SENDS_PER_THREAD);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations"), THREADS);
    teardown(&f);
}

TEST(messages_survive_close_and_reopen)
{
    struct fixture f;
    setup(&f);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) CHECK_INT(send_dm(&f, ALICE, BOB, "kept", &ids[i]), 0);
    store_close(f.store);
    f.store = NULL;
    open_store(&f);

    struct store_op *op = history_op(BOB, 0, ALICE, 0, 10);
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->history.count, 3);
    for (int i = 0; i < 3 && i < (int)op->history.count; i++)
        CHECK_INT(op->history.messages[i].message_id, ids[i]);
    store_op_free(op);
    int64_t next = 0;
    CHECK_INT(send_dm(&f, BOB, ALICE, "after", &next), 0);
    CHECK(next > ids[2]);
    teardown(&f);
}

TEST(close_runs_what_was_submitted)
{
    struct fixture f;
    setup(&f);
    static struct sent sent[50];
    struct waiter w;
    waiter_init(&w, 50);
    for (int i = 0; i < 50; i++) {
        sent[i].waiter = &w;
        atomic_init(&sent[i].calls, 0);
        struct store_op *op = dm_op(ALICE, BOB, "late", NULL);
        op->owner = &sent[i];
        op->done = sent_done;
        store_submit(f.store, op);
    }
    store_close(f.store);
    f.store = NULL;
    waiter_wait(&w);
    int bad = 0;
    for (int i = 0; i < 50; i++) bad += atomic_load(&sent[i].calls) != 1 || sent[i].status != 0;
    CHECK_INT(bad, 0);
    CHECK_INT(message_count(&f), 50);
    teardown(&f);
}

/* Takes the busy timeout (5 s): another process holding the write lock that
 * long makes the batch fail as unavailable, and nothing of it is stored. */
TEST(a_locked_database_makes_writes_unavailable)
{
    struct fixture f;
    setup(&f);
    sql(&f, "BEGIN IMMEDIATE");
    struct store_op *op = dm_op(ALICE, BOB, "blocked by a lock", "c-1");
    CHECK_INT(run(&f, op), CHAT_E_UNAVAILABLE);
    CHECK_INT(op->dm_send.message.message_id, 0);
    CHECK(op->dm_send.message.sender.username == NULL);
    store_op_free(op);
    sql(&f, "COMMIT");
    CHECK(store_ready(f.store)); /* WAL readers are not held back by a writer */

    op = dm_op(ALICE, BOB, "later", "c-1");
    CHECK_INT(run(&f, op), 0);
    CHECK(!op->dm_send.duplicate);
    store_op_free(op);
    CHECK_INT(message_count(&f), 1);
    teardown(&f);
}
