/* Tests of the store on its PostgreSQL engine, mirroring sqlite_test.c,
 * through the real path: ops go in with store_submit, the storage threads
 * run them in pipelined batches against a real server, and done callbacks
 * wake the test. Each test gets a fresh database on the server that
 * CHATD_TEST_POSTGRES_URL names (scripts/pg-test-server.sh starts one; `make
 * test` sets it); without it no test is registered. The test's own
 * connection plays the user service (users, follows, blocks). */
#include "store/postgres_schema.h"
#include "store/postgres_user_tables.h"
#include "store/store.h"
#include "test.h"
#include "util/clock.h"
#include "util/error.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define POOL 4

/* Registers the test only when a server is there to run it on. */
#define PG_TEST(name)                                                                              \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void name##_register(void)                                 \
    {                                                                                              \
        if (admin_url()) test_register(#name, name);                                               \
    }                                                                                              \
    static void name(void)

static const char *admin_url(void)
{
    const char *url = getenv("CHATD_TEST_POSTGRES_URL");
    return url && *url ? url : NULL;
}

__attribute__((constructor)) static void say_why_skipped(void)
{
    if (!admin_url()) printf("skipped: CHATD_TEST_POSTGRES_URL is unset\n");
}

/* This test links the engine in (libchatd-postgres.a): store_open takes it
 * from here, and the linker leaves out chatd's module loader. */
const struct store_engine *store_engine_postgres_load(char *err, size_t errlen)
{
    return &store_engine_postgres;
}

/* ---------------------------------------------------------------------------
 * Fixture: a fresh database, the user-service tables, the store
 * ------------------------------------------------------------------------- */

struct fixture {
    char name[64];
    char url[512];
    PGconn *db; /* the test's connection, standing in for the user service */
    struct store *store;
};

#define ENGINE_IS_POSTGRES 1
#define STORE_THREADS POOL

#include "store_contract.h"

/* Runs SQL on conn; a failure fails the test. */
static void conn_sql(PGconn *conn, const char *fmt, va_list ap)
{
    char text[2048];
    vsnprintf(text, sizeof text, fmt, ap);
    PGresult *res = PQexec(conn, text);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", text, PQerrorMessage(conn));
    PQclear(res);
}

static void sql(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql(struct fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conn_sql(f->db, fmt, ap);
    va_end(ap);
}

static PGconn *connect_to(const char *url)
{
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK)
        test_fail(__FILE__, __LINE__, "connecting to %s: %s", url, PQerrorMessage(conn));
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

static void admin_sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void admin_sql(const char *fmt, ...)
{
    PGconn *admin = connect_to(admin_url());
    va_list ap;
    va_start(ap, fmt);
    conn_sql(admin, fmt, ap);
    va_end(ap);
    PQfinish(admin);
}

/* The first cell of a query's first row as text into out ("" when none). */
static void sql_text(struct fixture *f, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sql_text(struct fixture *f, char *out, size_t len, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    PGresult *res = PQexec(f->db, text);
    snprintf(out, len, "%s",
             PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0)
                                                                          : "");
    PQclear(res);
}

/* The first cell as an integer (-1: no row). */
static int64_t sql_int(struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int64_t sql_int(struct fixture *f, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    PGresult *res = PQexec(f->db, text);
    int64_t value = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return value;
}

/* admin_url with its database name replaced by name (the path after the
 * host; a query string is kept). */
static void database_url(char *out, size_t len, const char *name)
{
    const char *url = admin_url();
    const char *host = strstr(url, "://");
    const char *slash = host ? strchr(host + 3, '/') : NULL;
    const char *query = strchr(url, '?');
    int prefix = slash ? (int)(slash - url) : (int)(query ? query - url : (long)strlen(url));
    snprintf(out, len, "%.*s/%s%s", prefix, url, name, query ? query : "");
}

/* A fresh, empty database; nothing is connected to it. */
static void make_database(struct fixture *f)
{
    static atomic_int counter;
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "chatd_unit_%d_%d", (int)getpid(),
             atomic_fetch_add(&counter, 1));
    admin_sql("DROP DATABASE IF EXISTS %s", f->name);
    admin_sql("CREATE DATABASE %s", f->name);
    database_url(f->url, sizeof f->url, f->name);
}

static void drop_database(struct fixture *f)
{
    admin_sql("DROP DATABASE IF EXISTS %s WITH (FORCE)", f->name);
}

static int try_open(struct fixture *f, int pool, char *err, size_t errlen)
{
    return store_open(&f->store, f->url, pool, err, errlen);
}

static void open_store(struct fixture *f)
{
    char err[256] = "";
    if (try_open(f, POOL, err, sizeof err) != 0)
        test_fail(__FILE__, __LINE__, "store_open: %s", err);
}

static void add_user(struct fixture *f, int64_t id, const char *name, const char *display_name)
{
    sql(f, "INSERT INTO users_auth (user_id, username) VALUES (%lld, '%s')", (long long)id, name);
    if (display_name)
        sql(f, "INSERT INTO user_profile_info VALUES (%lld, '%s', 'https://example.test/p.png')",
            (long long)id, display_name);
    else
        sql(f, "INSERT INTO user_profile_info VALUES (%lld, NULL, NULL)", (long long)id);
}

static void follow(struct fixture *f, int64_t follower, int64_t followee)
{
    sql(f, "INSERT INTO user_follows (follower_id, followee_id) VALUES (%lld, %lld)",
        (long long)follower, (long long)followee);
}

static void block(struct fixture *f, int64_t blocker, int64_t blocked)
{
    sql(f,
        "INSERT INTO blocked_relationships (blocker_user_id, blocked_user_id)"
        " VALUES (%lld, %lld)",
        (long long)blocker, (long long)blocked);
}

/* The user tables only: what the user service provides. */
static void setup_user_tables(struct fixture *f)
{
    make_database(f);
    f->db = connect_to(f->url);
    char err[256] = "";
    CHECK_INT(store_user_tables_create_postgres(f->db, err, sizeof err), 0);
}

/* Five users; alice and bob follow each other. The store is open. */
static void setup(struct fixture *f)
{
    setup_user_tables(f);
    add_users_and_open_store(f);
}

static void teardown(struct fixture *f)
{
    store_close(f->store);
    PQfinish(f->db);
    drop_database(f);
}

static int schema_version(void)
{
    return store_postgres_schema_version();
}

static int64_t table_count(struct fixture *f, const char *name)
{
    return sql_int(f, "SELECT count(*) FROM pg_tables WHERE tablename = '%s'", name);
}

static void check_engine_schema(struct fixture *f)
{
    const char *indexes[] = {"idx_group_members_both", "idx_conversation_messages",
                             "idx_group_messages", "idx_private_messages_client_id"};
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++)
        CHECK_INT(sql_int(f, "SELECT count(*) FROM pg_indexes WHERE indexname = '%s'", indexes[i]),
                  1);
    CHECK_INT(sql_int(f, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'chat\\_%%'"), 10);
    CHECK_INT(store_pool_size(f->store), POOL);
    CHECK_INT(sql_int(f,
                      "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
                      " AND application_name = 'chatd'",
                      f->name),
              POOL);
}

/* Waits up to timeout_ms for store_ready to become want; the time it took,
 * or -1. */
static int64_t wait_ready(struct fixture *f, bool want, int timeout_ms)
{
    int64_t start = clock_monotonic_ms();
    while (clock_monotonic_ms() - start < timeout_ms) {
        if (store_ready(f->store) == want) return clock_monotonic_ms() - start;
        usleep(20 * 1000);
    }
    return -1;
}
/* ---------------------------------------------------------------------------
 * The store's contract (store_contract.h), on PostgreSQL
 * ------------------------------------------------------------------------- */

PG_TEST(migrations_are_applied_once)
{
    with_store(contract_migrations_are_applied_once);
}
PG_TEST(ping_answers)
{
    with_store(contract_ping_answers);
}
PG_TEST(auth_checks_revocation_then_user)
{
    with_store(contract_auth_checks_revocation_then_user);
}
PG_TEST(profile_joins_users_and_profiles)
{
    with_store(contract_profile_joins_users_and_profiles);
}
PG_TEST(dm_send_creates_one_conversation_for_both_directions)
{
    struct fixture f;
    setup(&f);
    contract_dm_send_creates_one_conversation_for_both_directions(&f);
    /* the content is stored as the bytes given: bytea, not text */
    char hex[64];
    sql_text(&f, hex, sizeof hex,
             "SELECT encode(content, 'hex') FROM private_messages"
             " WHERE client_message_id = 'c-1'");
    CHECK_STR(hex, "7365616c65642d31");
    teardown(&f);
}
PG_TEST(dm_send_checks_in_the_documented_order)
{
    with_store(contract_dm_send_checks_in_the_documented_order);
}
PG_TEST(dm_send_duplicate_returns_the_stored_message)
{
    with_store(contract_dm_send_duplicate_returns_the_stored_message);
}
PG_TEST(history_pages_backwards_oldest_first)
{
    with_store(contract_history_pages_backwards_oldest_first);
}
PG_TEST(history_leaves_out_what_the_reader_deleted)
{
    with_store(contract_history_leaves_out_what_the_reader_deleted);
}
PG_TEST(history_is_for_the_two_users_only)
{
    with_store(contract_history_is_for_the_two_users_only);
}
PG_TEST(messages_survive_close_and_reopen)
{
    with_store(contract_messages_survive_close_and_reopen);
}
PG_TEST(close_runs_what_was_submitted)
{
    with_store(contract_close_runs_what_was_submitted);
}

/* ---------------------------------------------------------------------------
 * Opening and migrations
 * ------------------------------------------------------------------------- */

struct opener {
    struct fixture *f;
    struct store *store;
    int rc;
    char err[256];
};

static void *opener_main(void *arg)
{
    struct opener *o = arg;
    o->rc = store_open(&o->store, o->f->url, 2, o->err, sizeof o->err);
    return NULL;
}

/* Several chatd starting at once on a fresh database: one migrates, the
 * others wait on the advisory lock and find it done. */
PG_TEST(concurrent_starts_migrate_once)
{
    struct fixture f;
    setup_user_tables(&f);
    struct opener openers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        openers[i] = (struct opener){.f = &f};
        pthread_create(&threads[i], NULL, opener_main, &openers[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK_INT(openers[i].rc, 0);
        store_close(openers[i].store);
    }
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM schema_migrations"),
              store_postgres_schema_version());
    teardown(&f);
}

PG_TEST(open_reports_an_unreachable_server_without_the_password)
{
    struct store *store = (struct store *)1;
    char err[256] = "";
    int64_t start = clock_monotonic_ms();
    CHECK_INT(
        store_open(&store, "postgresql://chat:s3cret-pw@127.0.0.1:1/chat", 2, err, sizeof err),
        CHAT_E_UNAVAILABLE);
    CHECK(clock_monotonic_ms() - start < 6000);
    CHECK(store == NULL);
    CHECK(strstr(err, "cannot connect to PostgreSQL") != NULL);
    CHECK(strstr(err, "s3cret-pw") == NULL);
    CHECK_INT(store_open(&store, "postgres://[not-a-host/x", 2, err, sizeof err),
              CHAT_E_UNAVAILABLE);
}

/* chatd never creates the user service's tables, and creates nothing of its
 * own without them. */
PG_TEST(open_without_user_tables_names_the_fix)
{
    struct fixture f;
    make_database(&f);
    f.db = connect_to(f.url);
    char err[512] = "";
    CHECK_INT(try_open(&f, 2, err, sizeof err), CHAT_E_CONFIG);
    CHECK(f.store == NULL);
    CHECK(strstr(err, "users_auth, user_profile_info, jwt_revocation") != NULL);
    CHECK(strstr(err, "chatctl init") != NULL);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 0);

    /* one missing table is named alone */
    char ignored[256];
    CHECK_INT(store_user_tables_create_postgres(f.db, ignored, sizeof ignored), 0);
    sql(&f, "DROP TABLE user_follows");
    CHECK_INT(try_open(&f, 2, err, sizeof err), CHAT_E_CONFIG);
    CHECK(strstr(err, "missing from the database: user_follows (") != NULL);
    teardown(&f);
}

PG_TEST(a_newer_schema_is_refused)
{
    struct fixture f;
    setup(&f);
    store_close(f.store);
    f.store = NULL;
    sql(&f, "INSERT INTO schema_migrations VALUES (9999, now())");
    char err[256] = "";
    CHECK_INT(try_open(&f, 2, err, sizeof err), CHAT_E_CONFIG);
    CHECK(strstr(err, "newer than this chatd") != NULL);
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * AUTH, REVALIDATE
 * ------------------------------------------------------------------------- */

PG_TEST(auth_lists_followed_users_without_blocks)
{
    struct fixture f;
    setup(&f);
    follow(&f, ALICE, CAROL);
    follow(&f, ALICE, DAVE);
    follow(&f, ALICE, ERIN);
    block(&f, DAVE, ALICE);
    block(&f, ALICE, ERIN);
    struct store_op *op = store_op_new(STORE_OP_AUTH);
    op->auth.user_id = ALICE;
    snprintf(op->auth.jti, sizeof op->auth.jti, "j");
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->auth.following_count, 2);
    if (op->auth.following_count == 2) {
        CHECK_INT(op->auth.following[0], BOB);
        CHECK_INT(op->auth.following[1], CAROL);
    }
    store_op_free(op);

    op = store_op_new(STORE_OP_AUTH);
    op->auth.user_id = CAROL;
    snprintf(op->auth.jti, sizeof op->auth.jti, "j");
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->auth.following_count, 0);
    CHECK_STR(op->auth.user.username, "carol");
    CHECK(op->auth.user.display_name == NULL);
    store_op_free(op);
    teardown(&f);
}

PG_TEST(revalidate_reports_each_session)
{
    struct fixture f;
    setup(&f);
    sql(&f, "INSERT INTO jwt_revocation (jti) VALUES ('gone \"1\"')");
    struct store_op *op = store_op_new(STORE_OP_REVALIDATE);
    op->revalidate.count = 4;
    op->revalidate.sessions = calloc(4, sizeof *op->revalidate.sessions);
    const int64_t users[4] = {ALICE, 999, BOB, 999};
    const char *jtis[4] = {"ok-1", "ok-2", "gone \"1\"", "gone \"1\""};
    for (int i = 0; i < 4; i++) {
        op->revalidate.sessions[i].user_id = users[i];
        op->revalidate.sessions[i].jti = strdup(jtis[i]);
        op->revalidate.sessions[i].conn_id = (uint64_t)i;
    }
    CHECK_INT(run(&f, op), 0);
    CHECK_INT(op->revalidate.sessions[0].status, 0);
    CHECK_INT(op->revalidate.sessions[1].status, CHAT_E_USER_NOT_FOUND);
    CHECK_INT(op->revalidate.sessions[2].status, CHAT_E_TOKEN_REVOKED);
    CHECK_INT(op->revalidate.sessions[3].status, CHAT_E_TOKEN_REVOKED);
    store_op_free(op);
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * Indexes: the hot queries, as the chat_* functions run them
 * ------------------------------------------------------------------------- */

/* EXPLAIN of query must name index. enable_seqscan is off so that the
 * planner's choice on tiny tables does not hide a missing index. */
static void check_plan(struct fixture *f, const char *query, const char *index)
{
    char text[2048];
    snprintf(text, sizeof text, "EXPLAIN (COSTS OFF) %s", query);
    PGresult *res = PQexec(f->db, text);
    CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
    char plan[4096] = "";
    size_t used = 0;
    for (int i = 0; i < PQntuples(res) && used < sizeof plan; i++)
        used += (size_t)snprintf(plan + used, sizeof plan - used, "%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    if (!strstr(plan, index))
        test_fail(__FILE__, __LINE__, "%s\ndoes not use %s:\n%s", query, index, plan);
}

PG_TEST(hot_queries_use_indexes)
{
    struct fixture f;
    setup(&f);
    sql(&f, "SET enable_seqscan = off");
    check_plan(&f,
               "SELECT 1 FROM blocked_relationships b"
               " WHERE b.blocker_user_id = 1 AND b.blocked_user_id = 2",
               "idx_blocked_relationships");
    check_plan(&f, "SELECT 1 FROM user_follows f WHERE f.follower_id = 1 AND f.followee_id = 2",
               "idx_user_follows");
    check_plan(&f, "SELECT f.followee_id FROM user_follows f WHERE f.follower_id = 1",
               "idx_user_follows");
    check_plan(&f, "SELECT 1 FROM jwt_revocation r WHERE r.jti = 'x'", "jwt_revocation_pkey");
    check_plan(&f, "SELECT * FROM users_auth u WHERE u.user_id = 1", "users_auth_pkey");
    check_plan(&f,
               "SELECT m.message_id FROM private_messages m"
               " WHERE m.sender_id = 1 AND m.client_message_id = 'c-1'",
               "idx_private_messages_client_id");
    check_plan(&f,
               "SELECT c.conversation_id FROM conversations c WHERE c.user_a = 1 AND c.user_b = 2",
               "conversations_user_a_user_b_key");
    check_plan(&f,
               "SELECT m.* FROM private_messages m WHERE m.conversation_id = 1"
               " AND m.message_id < 9223372036854775807 ORDER BY m.message_id DESC LIMIT 51",
               "idx_conversation_messages");
    check_plan(&f,
               "SELECT m.* FROM private_messages m WHERE m.group_id = 1"
               " AND m.message_id < 100 ORDER BY m.message_id DESC LIMIT 51",
               "idx_group_messages");
    check_plan(&f, "SELECT 1 FROM group_members g WHERE g.group_id = 1 AND g.user_id = 2",
               "idx_group_members_both");
    check_plan(&f, "SELECT g.group_id FROM group_members g WHERE g.user_id = 2",
               "idx_group_members_user");
    check_plan(&f, "SELECT 1 FROM message_deletions d WHERE d.message_id = 1 AND d.user_id = 2",
               "message_deletions_pkey");
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * Batches: failures confined to their op, many threads, per-user order
 * ------------------------------------------------------------------------- */

/* Every op is alice's (one thread, one batch). The trigger makes "BAD"
 * fail in a way the function catches, and "ASSERT" raise what it cannot
 * (an assertion), which aborts the pipeline: the batch runs again without
 * that op. */
PG_TEST(a_failing_op_fails_alone_in_its_batch)
{
    struct fixture f;
    setup(&f);
    follow(&f, ALICE, CAROL);
    follow(&f, ALICE, DAVE);
    sql(&f, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.content = 'BAD'::bytea THEN RAISE EXCEPTION 'refused by the test'; END IF;"
            " IF NEW.content = 'ASSERT'::bytea THEN ASSERT false, 'uncatchable'; END IF;"
            " RETURN NEW; END $$");
    sql(&f, "CREATE TRIGGER refuse BEFORE INSERT ON private_messages"
            " FOR EACH ROW EXECUTE FUNCTION refuse()");

    struct store_op *ops[7];
    failing_batch_head(ops);
    ops[4] = dm_op(ALICE, DAVE, "ASSERT", NULL);
    ops[5] = history_op(ALICE, 0, BOB, 0, 10);
    ops[6] = dm_op(ALICE, BOB, "ok-3", NULL);
    int n = (int)(sizeof ops / sizeof ops[0]);
    run_batch(&f, ops, n);

    check_failing_batch_head(ops);
    CHECK_INT(ops[4]->status, CHAT_E_INTERNAL);
    CHECK(ops[4]->dm_send.message.sender.username == NULL);
    CHECK_INT(ops[5]->status, 0);
    CHECK_INT(ops[5]->history.count, 1); /* sees op 0, same transaction */
    CHECK_INT(ops[6]->status, 0);
    CHECK_INT(ops[0]->dm_send.message.created_at_ms, ops[6]->dm_send.message.created_at_ms);
    CHECK_INT(message_count(&f), 3);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM private_messages WHERE recipient_id = %d", DAVE),
              0);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations WHERE user_b = %d", CAROL), 1);
    /* Unlike SQLite, the conversation a DM passed its checks for is made
     * ahead of the batch (chat_dm_prepare), so it stays when the insert
     * itself fails: a conversation may have no message. */
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations WHERE user_b = %d", DAVE), 1);
    for (int i = 0; i < n; i++) store_op_free(ops[i]);
    teardown(&f);
}

/* A resend that arrives before the first send was stored lands in the same
 * run of DMs: the run falls back to one DM at a time, and the resend is a
 * duplicate of the first, as it would be in two batches. */
PG_TEST(a_resend_in_the_same_batch_is_a_duplicate)
{
    struct fixture f;
    setup(&f);
    struct store_op *ops[] = {
        dm_op(ALICE, BOB, "one", "c-1"),
        dm_op(ALICE, BOB, "two", "c-2"),
        dm_op(ALICE, BOB, "one again", "c-1"),
    };
    run_batch(&f, ops, 3);
    for (int i = 0; i < 3; i++) CHECK_INT(ops[i]->status, 0);
    CHECK(!ops[0]->dm_send.duplicate);
    CHECK(!ops[1]->dm_send.duplicate);
    CHECK(ops[2]->dm_send.duplicate);
    CHECK_INT(ops[2]->dm_send.message.message_id, ops[0]->dm_send.message.message_id);
    CHECK_MEM(ops[2]->dm_send.message.ciphertext, "one", 3);
    CHECK(ops[1]->dm_send.message.message_id > ops[0]->dm_send.message.message_id);
    CHECK_INT(message_count(&f), 2);
    for (int i = 0; i < 3; i++) store_op_free(ops[i]);
    teardown(&f);
}

/* Four senders on a pool of four: each sender's messages are stored and
 * acknowledged in the order they were submitted. */
PG_TEST(ops_from_four_threads_complete_exactly_once_in_order)
{
    struct fixture f;
    setup(&f);
    struct sent *sent = send_from_four_threads(&f);

    int bad = 0, out_of_order = 0;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < SENDS_PER_THREAD; i++) {
            struct sent *s = &sent[t * SENDS_PER_THREAD + i];
            if (atomic_load(&s->calls) != 1 || s->status != 0) bad++;
            if (s->order != i) out_of_order++;
            if (i > 0 && s->message_id <= sent[t * SENDS_PER_THREAD + i - 1].message_id)
                out_of_order++;
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(out_of_order, 0);
    CHECK_INT(message_count(&f), THREADS * SENDS_PER_THREAD);
    CHECK_INT(sql_int(&f, "SELECT count(DISTINCT message_id) FROM private_messages"),
              THREADS * SENDS_PER_THREAD);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations"), THREADS);
    teardown(&f);
}

/* The first DMs of many pairs, both ways at once, over every connection:
 * conversations are made ahead of the batches, so no two batches wait for
 * each other (they would deadlock, and a deadlock costs a second and an
 * error). */
PG_TEST(first_messages_both_ways_do_not_deadlock)
{
    struct fixture f;
    setup(&f);
    enum { USERS = 40 };
    for (int64_t u = 101; u < 101 + USERS; u++) {
        char name[32];
        snprintf(name, sizeof name, "u%lld", (long long)u);
        add_user(&f, u, name, NULL);
    }
    for (int64_t u = 101; u < 101 + USERS; u++) follow(&f, u, u % 2 ? u + 1 : u - 1);
    for (int round = 0; round < 3; round++) {
        struct store_op *ops[USERS];
        for (int i = 0; i < USERS; i++) {
            int64_t u = 101 + (i * 7) % USERS; /* an order unlike the ids' */
            ops[i] = dm_op(u, u % 2 ? u + 1 : u - 1, "hi", NULL);
        }
        run_batch(&f, ops, USERS);
        int bad = 0;
        for (int i = 0; i < USERS; i++) {
            bad += ops[i]->status != 0;
            store_op_free(ops[i]);
        }
        CHECK_INT(bad, 0);
    }
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM conversations"), USERS / 2);
    CHECK_INT(message_count(&f), 3 * USERS);
    teardown(&f);
}

/* ---------------------------------------------------------------------------
 * Failures: the server goes away and comes back; a batch that hangs
 * ------------------------------------------------------------------------- */

/* Ends the store's sessions and keeps new ones out until allow is true. */
static void cut_connections(struct fixture *f, bool allow)
{
    admin_sql("ALTER DATABASE %s ALLOW_CONNECTIONS %s", f->name, allow ? "true" : "false");
    if (allow) return;
    admin_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
              " WHERE datname = '%s' AND application_name = 'chatd'",
              f->name);
    for (int i = 0; i < 100; i++) {
        if (sql_int(f,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
                    " AND application_name = 'chatd'",
                    f->name) == 0)
            return;
        usleep(20 * 1000);
    }
    test_fail(__FILE__, __LINE__, "the store's sessions did not end");
}

PG_TEST(lost_connections_make_requests_unavailable_until_they_come_back)
{
    struct fixture f;
    setup(&f);
    CHECK_INT(send_dm(&f, ALICE, BOB, "before", NULL), 0);
    cut_connections(&f, false);

    struct store_op *op = dm_op(ALICE, BOB, "during", "c-during");
    CHECK_INT(run(&f, op), CHAT_E_UNAVAILABLE);
    CHECK_INT(op->dm_send.message.message_id, 0);
    CHECK(op->dm_send.message.sender.username == NULL);
    store_op_free(op);
    int64_t unready_ms = wait_ready(&f, false, 2000);
    CHECK(unready_ms >= 0);
    CHECK_INT(message_count(&f), 1);

    cut_connections(&f, true);
    int64_t ready_ms = wait_ready(&f, true, 5000);
    CHECK(ready_ms >= 0);
    printf("    unready after %lld ms, ready again %lld ms after the database came back\n",
           (long long)unready_ms, (long long)ready_ms);
    op = dm_op(ALICE, BOB, "during", "c-during"); /* the client's resend */
    CHECK_INT(run(&f, op), 0);
    CHECK(!op->dm_send.duplicate);
    store_op_free(op);
    CHECK_INT(message_count(&f), 2);
    teardown(&f);
}

/* A lock held by another session stands for a server that stopped
 * answering: the batch gives up by its deadline as unavailable, and the
 * store reads as not ready while it waits. */
PG_TEST(a_batch_that_hangs_ends_by_its_deadline)
{
    struct fixture f;
    setup(&f);
    sql(&f, "BEGIN");
    sql(&f, "LOCK TABLE private_messages IN ACCESS EXCLUSIVE MODE");
    struct store_op *op = dm_op(ALICE, BOB, "held", "c-1");
    struct waiter w;
    waiter_init(&w, 1);
    op->owner = &w;
    op->done = waiter_done;
    int64_t start = clock_monotonic_ms();
    store_submit(f.store, op);
    CHECK(wait_ready(&f, false, 3000) >= 0);
    waiter_wait(&w);
    int64_t took = clock_monotonic_ms() - start;
    CHECK_INT(op->status, CHAT_E_UNAVAILABLE);
    CHECK(took >= 3000 && took < 8000);
    store_op_free(op);
    sql(&f, "ROLLBACK");
    CHECK(wait_ready(&f, true, 5000) >= 0);
    check_resend_is_stored(&f);
    teardown(&f);
}

/* chatd turns JIT off on its connections. Here the server compiles every
 * statement (thresholds at 0, as a plan's cost estimate past them would make
 * it): with JIT, one call of chat_dm_send_many took over a second; without,
 * a batch of DMs takes milliseconds. */
PG_TEST(jit_stays_off_on_chatd_connections)
{
    struct fixture f;
    setup_user_tables(&f);
    const char *settings[] = {"jit = on", "jit_above_cost = 0", "jit_inline_above_cost = 0",
                              "jit_optimize_above_cost = 0"};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        admin_sql("ALTER DATABASE %s SET %s", f.name, settings[i]);
    add_users_and_open_store(&f);
    CHECK_INT(send_dm(&f, ALICE, BOB, "first: makes the conversation", NULL), 0);

    enum { N = 100 };
    struct store_op *ops[N];
    for (int i = 0; i < N; i++) ops[i] = dm_op(ALICE, BOB, "one of a run", NULL);
    int64_t began = clock_monotonic_ms();
    run_batch(&f, ops, N);
    int64_t took_ms = clock_monotonic_ms() - began;
    for (int i = 0; i < N; i++) {
        CHECK_INT(ops[i]->status, 0);
        store_op_free(ops[i]);
    }
    CHECK(took_ms < 500);
    teardown(&f);
}
