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
#include <string.h>
#include <unistd.h>

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

#define ENGINE_IS_POSTGRES 0
#define STORE_THREADS 1 /* the fixture opens the store with one thread */

#include "store_contract.h"

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
    add_users_and_open_store(f);
}

static void teardown(struct fixture *f)
{
    store_close(f->store);
    sqlite3_close(f->db);
    remove_temp_dir(f);
}

static int schema_version(void)
{
    return store_sqlite_schema_version();
}

static int64_t table_count(struct fixture *f, const char *name)
{
    return sql_int(f, "SELECT count(*) FROM sqlite_master WHERE name = %Q", name);
}

static void check_engine_schema(struct fixture *f)
{
    CHECK_INT(
        sql_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'idx_group_members_both'"), 1);
    /* migration 2: no newest-message columns to keep current */
    CHECK_INT(sql_int(f, "SELECT count(*) FROM pragma_table_info('conversations')"
                         " WHERE name IN ('updated_at', 'last_message_id')"),
              0);
    CHECK_INT(sql_int(f, "SELECT count(*) FROM pragma_table_info('group_chats')"
                         " WHERE name = 'last_message_id'"),
              0);
}

/* ---------------------------------------------------------------------------
 * The store's contract (store_contract.h), on SQLite
 * ------------------------------------------------------------------------- */

TEST(migrations_are_applied_once)
{
    with_store(contract_migrations_are_applied_once);
}
TEST(ping_answers)
{
    with_store(contract_ping_answers);
}
TEST(auth_checks_revocation_then_user)
{
    with_store(contract_auth_checks_revocation_then_user);
}
TEST(profile_joins_users_and_profiles)
{
    with_store(contract_profile_joins_users_and_profiles);
}
TEST(dm_send_creates_one_conversation_for_both_directions)
{
    with_store(contract_dm_send_creates_one_conversation_for_both_directions);
}
TEST(dm_send_checks_in_the_documented_order)
{
    with_store(contract_dm_send_checks_in_the_documented_order);
}
TEST(dm_send_duplicate_returns_the_stored_message)
{
    with_store(contract_dm_send_duplicate_returns_the_stored_message);
}
TEST(history_pages_backwards_oldest_first)
{
    with_store(contract_history_pages_backwards_oldest_first);
}
TEST(history_leaves_out_what_the_reader_deleted)
{
    with_store(contract_history_leaves_out_what_the_reader_deleted);
}
TEST(history_is_for_the_two_users_only)
{
    with_store(contract_history_is_for_the_two_users_only);
}
TEST(messages_survive_close_and_reopen)
{
    with_store(contract_messages_survive_close_and_reopen);
}
TEST(close_runs_what_was_submitted)
{
    with_store(contract_close_runs_what_was_submitted);
}

/* ---------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------- */

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
 * Batches: savepoints, many threads, a lock held elsewhere
 * ------------------------------------------------------------------------- */

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

    struct store_op *ops[5];
    failing_batch_head(ops);
    ops[4] = history_op(BOB, 0, ALICE, 0, 10);
    run_batch(&f, ops, 5);

    check_failing_batch_head(ops);
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

/* One batch of DMs to two conversations; a resend inside the same batch is
 * answered with the message stored a moment before; a block written by the
 * user service between two batches holds at once (nothing is cached). */
TEST(a_batch_of_dms_answers_a_resend_and_sees_blocks_at_once)
{
    struct fixture f;
    setup(&f);
    follow(&f, ALICE, CAROL);
    struct store_op *ops[] = {
        dm_op(ALICE, BOB, "1", "b-1"),     dm_op(BOB, ALICE, "2", NULL),
        dm_op(ALICE, CAROL, "3", "c-1"),   dm_op(ALICE, BOB, "4", "b-2"),
        dm_op(ALICE, BOB, "again", "b-1"),
    };
    enum { N = sizeof ops / sizeof ops[0] };
    run_batch(&f, ops, N);

    for (int i = 0; i < N; i++) CHECK_INT(ops[i]->status, 0);
    CHECK(!ops[3]->dm_send.duplicate);
    CHECK(ops[4]->dm_send.duplicate);
    CHECK_INT(ops[4]->dm_send.message.message_id, ops[0]->dm_send.message.message_id);
    CHECK_MEM(ops[4]->dm_send.message.ciphertext, "1", 1);
    CHECK_INT(ops[1]->dm_send.message.conversation_id, ops[0]->dm_send.message.conversation_id);
    CHECK_INT(message_count(&f), 4);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations"), 2);
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

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

TEST(ops_from_four_threads_complete_exactly_once)
{
    struct fixture f;
    setup(&f);
    struct sent *sent = send_from_four_threads(&f);

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

    check_resend_is_stored(&f);
    teardown(&f);
}
