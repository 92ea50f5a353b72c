/* The store's engine-independent behaviour (src/store/store.h), tested once
 * and run on every engine: sqlite_test.c and postgres_test.c each include
 * this file after defining their engine's fixture, and register the
 * contract_* bodies below with one-line tests.
 *
 * Before including it, an engine's test file defines struct fixture (with
 * `struct store *store`, the store under test), ENGINE_IS_POSTGRES (1 or 0:
 * selects the few checks and setup statements in which the engines differ)
 * and STORE_THREADS (how many storage threads its store runs). After it, the
 * file defines the functions declared below: setup (a fresh database, then
 * add_users_and_open_store), teardown, open_store, sql and sql_int (SQL on
 * the test's own connection, which plays the user service), add_user,
 * follow, block, schema_version (the newest migration), table_count (tables
 * of that name) and check_engine_schema (the engine's own checks of what the
 * migrations made). */
#ifndef CHATD_STORE_CONTRACT_H
#define CHATD_STORE_CONTRACT_H

#include "store/store.h"
#include "test.h"
#include "util/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ALICE = 1, BOB, CAROL, DAVE, ERIN };

/* What the engine's test file defines (after including this file). */
static void setup(struct fixture *f);
static void teardown(struct fixture *f);
static void open_store(struct fixture *f);
static void sql(struct fixture *f, const char *fmt, ...);
static int64_t sql_int(struct fixture *f, const char *fmt, ...);
static void add_user(struct fixture *f, int64_t id, const char *name, const char *display_name);
static void follow(struct fixture *f, int64_t follower, int64_t followee);
static void block(struct fixture *f, int64_t blocker, int64_t blocked);
static int schema_version(void);
static int64_t table_count(struct fixture *f, const char *name);
static void check_engine_schema(struct fixture *f);

/* The users every test starts with: five, alice and bob following each
 * other; then the store is opened. The end of each engine's setup. */
static void add_users_and_open_store(struct fixture *f)
{
    add_user(f, ALICE, "alice", "Alice");
    add_user(f, BOB, "bob", "Bob");
    add_user(f, CAROL, "carol", NULL);
    add_user(f, DAVE, "dave", "Dave");
    add_user(f, ERIN, "erin", "Erin");
    follow(f, ALICE, BOB);
    follow(f, BOB, ALICE);
    open_store(f);
}

/* Runs one contract body on a fresh fixture. */
static void with_store(void (*body)(struct fixture *f))
{
    struct fixture f;
    setup(&f);
    body(&f);
    teardown(&f);
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

/* Submits ops[0..n), each to signal w when done. */
static void submit_all(struct fixture *f, struct waiter *w, struct store_op **ops, int n)
{
    for (int i = 0; i < n; i++) {
        ops[i]->owner = w;
        ops[i]->done = waiter_done;
        store_submit(f->store, ops[i]);
    }
}

/* Submits ops[0..n) and returns once every done callback has run. */
static void run_ops(struct fixture *f, struct store_op **ops, int n)
{
    struct waiter w;
    waiter_init(&w, n);
    submit_all(f, &w, ops, n);
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
 * Batches: a gate that holds the storage threads, senders on many threads
 * ------------------------------------------------------------------------- */

/* Holds every storage thread inside a done callback until the test opens
 * it, so that whatever is submitted meanwhile becomes one batch per thread. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered;
    bool open;
};

static void gate_done(struct store_op *op)
{
    struct gate *g = op->owner;
    pthread_mutex_lock(&g->lock);
    g->entered++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open) pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    store_op_free(op);
}

/* Pings go to the threads in turn: STORE_THREADS pings hold every thread. */
static void gate_hold(struct fixture *f, struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->entered = 0;
    g->open = false;
    for (int i = 0; i < STORE_THREADS; i++) {
        struct store_op *ping = store_op_new(STORE_OP_PING);
        ping->owner = g;
        ping->done = gate_done;
        store_submit(f->store, ping);
    }
    pthread_mutex_lock(&g->lock);
    while (g->entered < STORE_THREADS) pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Holds the storage threads, submits ops[0..n) meanwhile, lets them go and
 * returns once every done callback has run. */
static void run_batch(struct fixture *f, struct store_op **ops, int n)
{
    struct gate g;
    gate_hold(f, &g);
    struct waiter w;
    waiter_init(&w, n);
    submit_all(f, &w, ops, n);
    gate_open(&g);
    waiter_wait(&w);
}

/* The four DMs both engines' failing-batch tests begin with: ok, BAD, ok,
 * BAD (with a client id); a test trigger makes the BAD ones fail. */
static void failing_batch_head(struct store_op **ops)
{
    ops[0] = dm_op(ALICE, BOB, "ok-1", NULL);
    ops[1] = dm_op(ALICE, CAROL, "BAD", NULL);
    ops[2] = dm_op(ALICE, CAROL, "ok-2", NULL);
    ops[3] = dm_op(ALICE, DAVE, "BAD", "c-bad");
}

/* After the batch: each BAD DM failed alone, the ok ones around it did not. */
static void check_failing_batch_head(struct store_op **ops)
{
    CHECK_INT(ops[0]->status, 0);
    CHECK_INT(ops[1]->status, CHAT_E_INTERNAL);
    CHECK_INT(ops[1]->dm_send.message.message_id, 0);
    CHECK(ops[1]->dm_send.recipient.username == NULL);
    CHECK_INT(ops[2]->status, 0);
    CHECK_INT(ops[3]->status, CHAT_E_INTERNAL);
}

/* Once the database answers again after a send failed as unavailable: the
 * client's resend (the same client id) is stored, once, as new. */
static void check_resend_is_stored(struct fixture *f)
{
    struct store_op *op = dm_op(ALICE, BOB, "later", "c-1");
    CHECK_INT(run(f, op), 0);
    CHECK(!op->dm_send.duplicate);
    store_op_free(op);
    CHECK_INT(message_count(f), 1);
}

#define THREADS 4
#define SENDS_PER_THREAD 250

struct sent {
    struct waiter *waiter;
    atomic_int *completed; /* the sender's completion counter */
    atomic_int calls;
    int order; /* this op's place among its sender's completions */
    int status;
    int64_t message_id;
};

struct sender {
    struct fixture *f;
    int index;
    struct sent *sent; /* SENDS_PER_THREAD of them */
    atomic_int completed;
};

static void sent_done(struct store_op *op)
{
    struct sent *s = op->owner;
    atomic_fetch_add(&s->calls, 1);
    s->order = atomic_fetch_add(s->completed, 1);
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

/* THREADS senders, each user 1..THREADS to the next, SENDS_PER_THREAD DMs
 * each; returns once all of them completed. The result: sender t's sends,
 * in submission order, at [t * SENDS_PER_THREAD, (t + 1) * SENDS_PER_THREAD). */
static struct sent *send_from_four_threads(struct fixture *f)
{
    for (int a = 1; a <= THREADS; a++)
        for (int b = 1; b <= THREADS; b++)
            if (a != b && !(a == ALICE && b == BOB) && !(a == BOB && b == ALICE)) follow(f, a, b);

    static struct sent sent[THREADS * SENDS_PER_THREAD];
    static struct sender senders[THREADS];
    struct waiter w;
    waiter_init(&w, THREADS * SENDS_PER_THREAD);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        senders[t].f = f;
        senders[t].index = t;
        senders[t].sent = &sent[t * SENDS_PER_THREAD];
        atomic_init(&senders[t].completed, 0);
        for (int i = 0; i < SENDS_PER_THREAD; i++) {
            sent[t * SENDS_PER_THREAD + i].waiter = &w;
            sent[t * SENDS_PER_THREAD + i].completed = &senders[t].completed;
            atomic_init(&sent[t * SENDS_PER_THREAD + i].calls, 0);
        }
    }
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, sender_main, &senders[t]);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    waiter_wait(&w);
    return sent;
}

/* ---------------------------------------------------------------------------
 * Opening and migrations
 * ------------------------------------------------------------------------- */

static void contract_migrations_are_applied_once(struct fixture *f)
{
    int version = schema_version();
    CHECK(version >= 1);
    CHECK_INT(sql_int(f, "SELECT count(*) FROM schema_migrations"), version);
    CHECK_INT(sql_int(f, "SELECT max(version) FROM schema_migrations"), version);
    const char *tables[] = {"conversations", "private_messages",  "message_deletions",
                            "user_status",   "message_reactions", "group_chats",
                            "group_members"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        CHECK_INT(table_count(f, tables[i]), 1);
    check_engine_schema(f);

    store_close(f->store);
    open_store(f);
    CHECK_INT(sql_int(f, "SELECT count(*) FROM schema_migrations"), version);
    CHECK(store_ready(f->store));
}

/* ---------------------------------------------------------------------------
 * PING, AUTH, PROFILE
 * ------------------------------------------------------------------------- */

static void contract_ping_answers(struct fixture *f)
{
    struct store_op *op = store_op_new(STORE_OP_PING);
    CHECK_INT(run(f, op), 0);
    store_op_free(op);
    CHECK(store_ready(f->store));
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

static void contract_auth_checks_revocation_then_user(struct fixture *f)
{
    char name[32];
    CHECK_INT(auth(f, ALICE, "jti-1", name, sizeof name), 0);
    CHECK_STR(name, "alice");
    CHECK_INT(auth(f, 999, "jti-1", name, sizeof name), CHAT_E_USER_NOT_FOUND);
    CHECK_STR(name, "");

    /* revoked whatever expires_at says, past or absent */
    sql(f, "INSERT INTO jwt_revocation VALUES ('jti-old', '2020-01-01T00:00:00Z',"
           " '2020-01-02T00:00:00Z')");
    sql(f, "INSERT INTO jwt_revocation VALUES ('jti-forever', '2020-01-01T00:00:00Z', NULL)");
    CHECK_INT(auth(f, ALICE, "jti-old", name, sizeof name), CHAT_E_TOKEN_REVOKED);
    CHECK_STR(name, "");
    CHECK_INT(auth(f, ALICE, "jti-forever", name, sizeof name), CHAT_E_TOKEN_REVOKED);
    CHECK_INT(auth(f, 999, "jti-forever", name, sizeof name), CHAT_E_TOKEN_REVOKED);
    if (ENGINE_IS_POSTGRES) /* quoting is the driver's business */
        CHECK_INT(auth(f, ALICE, "it's \"quoted\" \\ {x}", name, sizeof name), 0);
}

static void contract_profile_joins_users_and_profiles(struct fixture *f)
{
    struct store_op *op = store_op_new(STORE_OP_PROFILE);
    op->profile.user_id = ALICE;
    CHECK_INT(run(f, op), 0);
    CHECK_INT(op->profile.user.user_id, ALICE);
    CHECK_STR(op->profile.user.username, "alice");
    CHECK_STR(op->profile.user.display_name, "Alice");
    CHECK_STR(op->profile.user.profile_picture, "https://example.test/p.png");
    store_op_free(op);

    sql(f, "DELETE FROM user_profile_info WHERE user_id = %d", CAROL);
    op = store_op_new(STORE_OP_PROFILE);
    op->profile.user_id = CAROL;
    CHECK_INT(run(f, op), 0);
    CHECK_STR(op->profile.user.username, "carol");
    CHECK(op->profile.user.display_name == NULL);
    CHECK(op->profile.user.profile_picture == NULL);
    store_op_free(op);

    op = store_op_new(STORE_OP_PROFILE);
    op->profile.user_id = 999;
    CHECK_INT(run(f, op), CHAT_E_USER_NOT_FOUND);
    CHECK(op->profile.user.username == NULL);
    store_op_free(op);
}

/* ---------------------------------------------------------------------------
 * DM_SEND
 * ------------------------------------------------------------------------- */

static void contract_dm_send_creates_one_conversation_for_both_directions(struct fixture *f)
{
    struct store_op *first = dm_op(ALICE, BOB, "sealed-1", "c-1");
    CHECK_INT(run(f, first), 0);
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
    if (ENGINE_IS_POSTGRES) /* the time the row holds is the time handed back */
        CHECK_INT(sql_int(f, "SELECT chat_epoch_ms(created_at) FROM private_messages"),
                  m->created_at_ms);

    struct store_op *reply = dm_op(BOB, ALICE, "sealed-2", NULL);
    reply->dm_send.reply_to_id = m->message_id;
    CHECK_INT(run(f, reply), 0);
    CHECK_INT(reply->dm_send.message.conversation_id, m->conversation_id);
    CHECK(reply->dm_send.message.message_id > m->message_id);
    CHECK_INT(reply->dm_send.message.reply_to_id, m->message_id);
    CHECK(reply->dm_send.message.client_message_id == NULL);

    CHECK_INT(sql_int(f, "SELECT count(*) FROM conversations"), 1);
    CHECK_INT(sql_int(f, "SELECT user_a * 10 + user_b FROM conversations"), ALICE * 10 + BOB);
    store_op_free(first);
    store_op_free(reply);
}

static void contract_dm_send_checks_in_the_documented_order(struct fixture *f)
{
    follow(f, ALICE, CAROL);
    follow(f, ALICE, DAVE);
    follow(f, ERIN, ALICE);
    int64_t in_alice_carol = 0, in_alice_bob = 0;
    CHECK_INT(send_dm(f, ALICE, CAROL, "to carol", &in_alice_carol), 0);
    CHECK_INT(send_dm(f, ALICE, BOB, "to bob", &in_alice_bob), 0);
    block(f, CAROL, ALICE); /* the recipient blocks the sender */
    block(f, ALICE, DAVE);  /* the sender blocks the recipient */
    int64_t stored = message_count(f);

    /* recipient exists, before everything else */
    CHECK_INT(send_dm_with(f, ALICE, 999, 424242, true), CHAT_E_USER_NOT_FOUND);
    CHECK_INT(send_dm_with(f, ALICE, ALICE, 0, true), CHAT_E_INVALID_REQUEST);
    /* the reply target, before blocks, follows and the rate limit */
    CHECK_INT(send_dm_with(f, ALICE, BOB, 424242, true), CHAT_E_NOT_FOUND);
    CHECK_INT(send_dm_with(f, ALICE, BOB, in_alice_carol, false), CHAT_E_NOT_FOUND);
    CHECK_INT(send_dm_with(f, ALICE, ERIN, in_alice_bob, true), CHAT_E_NOT_FOUND);
    CHECK_INT(send_dm_with(f, ALICE, CAROL, in_alice_bob, true), CHAT_E_NOT_FOUND);
    /* blocks either way, before follows and the rate limit */
    CHECK_INT(send_dm_with(f, ALICE, CAROL, in_alice_carol, true), CHAT_E_BLOCKED);
    CHECK_INT(send_dm_with(f, CAROL, ALICE, 0, false), CHAT_E_BLOCKED);
    CHECK_INT(send_dm_with(f, ALICE, DAVE, 0, true), CHAT_E_BLOCKED);
    CHECK_INT(send_dm_with(f, DAVE, ALICE, 0, false), CHAT_E_BLOCKED);
    /* following is one-way */
    CHECK_INT(send_dm_with(f, ALICE, ERIN, 0, true), CHAT_E_NOT_FOLLOWING);
    CHECK_INT(send_dm_with(f, BOB, CAROL, 0, false), CHAT_E_NOT_FOLLOWING);
    /* the rate limit comes last */
    CHECK_INT(send_dm_with(f, ALICE, BOB, in_alice_bob, true), CHAT_E_RATE_LIMITED);

    CHECK_INT(message_count(f), stored);
    CHECK_INT(sql_int(f, "SELECT count(*) FROM conversations"), 2);
    CHECK_INT(send_dm_with(f, ERIN, ALICE, 0, false), 0);
    CHECK_INT(send_dm_with(f, ALICE, BOB, in_alice_bob, false), 0);

    if (ENGINE_IS_POSTGRES) { /* the sender's own row gone by the time of the insert */
        sql(f, "DELETE FROM users_auth WHERE user_id = %d", BOB);
        CHECK_INT(send_dm_with(f, BOB, ALICE, 0, false), CHAT_E_USER_NOT_FOUND);
    }
}

static void contract_dm_send_duplicate_returns_the_stored_message(struct fixture *f)
{
    struct store_op *op = dm_op(ALICE, BOB, "first", "c-1");
    CHECK_INT(run(f, op), 0);
    int64_t id = op->dm_send.message.message_id;
    int64_t created = op->dm_send.message.created_at_ms;
    store_op_free(op);
    block(f, BOB, ALICE); /* would fail a new send; a resend still answers */

    op = dm_op(ALICE, BOB, "second", "c-1");
    op->dm_send.rate_limited = true;
    CHECK_INT(run(f, op), 0);
    CHECK(op->dm_send.duplicate);
    CHECK_INT(op->dm_send.message.message_id, id);
    CHECK_INT(op->dm_send.message.created_at_ms, created);
    CHECK_INT(op->dm_send.message.ciphertext_len, 5);
    CHECK_MEM(op->dm_send.message.ciphertext, "first", 5);
    CHECK_STR(op->dm_send.message.client_message_id, "c-1");
    CHECK_STR(op->dm_send.message.sender.username, "alice");
    if (ENGINE_IS_POSTGRES) CHECK_INT(op->dm_send.message.sender_id, ALICE);
    CHECK_INT(op->dm_send.message.recipient_id, BOB);
    store_op_free(op);
    CHECK_INT(message_count(f), 1);

    /* client ids are per sender */
    sql(f, "DELETE FROM blocked_relationships");
    op = dm_op(BOB, ALICE, "bob's", "c-1");
    CHECK_INT(run(f, op), 0);
    CHECK(!op->dm_send.duplicate);
    CHECK(op->dm_send.message.message_id > id);
    store_op_free(op);
    CHECK_INT(message_count(f), 2);
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

static void contract_history_pages_backwards_oldest_first(struct fixture *f)
{
    int64_t ids[25];
    for (int i = 0; i < 25; i++)
        CHECK_INT(send_dm(f, i % 2 ? BOB : ALICE, i % 2 ? ALICE : BOB, "m", &ids[i]), 0);

    int64_t conversation_id = check_page(f, history_op(ALICE, 0, BOB, 0, 10), ids, 15, 10, true);
    CHECK(conversation_id > 0);
    check_page(f, history_op(BOB, conversation_id, 0, ids[15], 10), ids, 5, 10, true);
    check_page(f, history_op(ALICE, conversation_id, 0, ids[5], 10), ids, 0, 5, false);
    check_page(f, history_op(ALICE, conversation_id, 0, 0, 25), ids, 0, 25, false);
    check_page(f, history_op(ALICE, conversation_id, 0, ids[0], 10), ids, 0, 0, false);

    struct store_op *op = history_op(BOB, 0, ALICE, 0, 1);
    CHECK_INT(run(f, op), 0);
    struct store_message *m = &op->history.messages[0];
    CHECK_INT(m->message_id, ids[24]);
    CHECK_INT(m->sender_id, ALICE);
    if (ENGINE_IS_POSTGRES) CHECK_INT(m->recipient_id, BOB);
    CHECK_STR(m->sender.username, "alice");
    CHECK_INT(m->key_id, 7);
    CHECK_MEM(m->ciphertext, "m", 1);
    CHECK(!m->deleted);
    store_op_free(op);
}

static void contract_history_leaves_out_what_the_reader_deleted(struct fixture *f)
{
    int64_t ids[3];
    for (int i = 0; i < 3; i++) CHECK_INT(send_dm(f, ALICE, BOB, "m", &ids[i]), 0);
    /* the engines' time columns: epoch milliseconds, timestamptz */
    if (ENGINE_IS_POSTGRES) {
        sql(f, "INSERT INTO message_deletions VALUES (%lld, %d, now())", (long long)ids[2], ALICE);
        sql(f,
            "UPDATE private_messages SET content = NULL, deleted_at = now(),"
            " edited_at = now() WHERE message_id = %lld",
            (long long)ids[1]);
    } else {
        sql(f, "INSERT INTO message_deletions VALUES (%lld, %d, 1)", (long long)ids[2], ALICE);
        sql(f, "UPDATE private_messages SET content = NULL, deleted_at = 1 WHERE message_id = %lld",
            (long long)ids[1]);
    }

    struct store_op *op = history_op(ALICE, 0, BOB, 0, 10);
    CHECK_INT(run(f, op), 0);
    CHECK_INT(op->history.count, 2);
    CHECK_INT(op->history.messages[1].message_id, ids[1]);
    CHECK(op->history.messages[1].deleted);
    CHECK(op->history.messages[1].ciphertext == NULL);
    if (ENGINE_IS_POSTGRES) { /* only the PostgreSQL setup above sets edited_at */
        CHECK(op->history.messages[1].edited_at_ms > 1600000000000LL);
        CHECK_INT(op->history.messages[0].edited_at_ms, 0);
    }
    store_op_free(op);

    op = history_op(BOB, 0, ALICE, 0, 10);
    CHECK_INT(run(f, op), 0);
    CHECK_INT(op->history.count, 3);
    store_op_free(op);
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

static void contract_history_is_for_the_two_users_only(struct fixture *f)
{
    int64_t id;
    CHECK_INT(send_dm(f, ALICE, BOB, "m", &id), 0);
    int64_t conversation_id = sql_int(f, "SELECT conversation_id FROM conversations");

    CHECK_INT(history_status(f, history_op(CAROL, conversation_id, 0, 0, 10), NULL),
              CHAT_E_NOT_FOUND);
    CHECK_INT(history_status(f, history_op(ALICE, conversation_id + 1, 0, 0, 10), NULL),
              CHAT_E_NOT_FOUND);
    int64_t none = -1;
    CHECK_INT(history_status(f, history_op(CAROL, 0, ALICE, 0, 10), &none), 0);
    CHECK_INT(none, 0);
    CHECK_INT(history_status(f, history_op(ALICE, 0, 999, 0, 10), &none), CHAT_E_USER_NOT_FOUND);
    CHECK_INT(history_status(f, history_op(ALICE, 0, ALICE, 0, 10), &none), 0);
    CHECK_INT(history_status(f, history_op(ALICE, 0, 0, 0, 10), NULL), CHAT_E_INVALID_REQUEST);
    CHECK_INT(history_status(f, history_op(ALICE, conversation_id, 0, 0, 0), NULL),
              CHAT_E_INVALID_REQUEST);
    CHECK_INT(
        history_status(f, history_op(ALICE, conversation_id, 0, 0, STORE_HISTORY_MAX + 1), NULL),
        CHAT_E_INVALID_REQUEST);
}

/* ---------------------------------------------------------------------------
 * Durability and shutdown
 * ------------------------------------------------------------------------- */

static void contract_messages_survive_close_and_reopen(struct fixture *f)
{
    int64_t ids[3];
    for (int i = 0; i < 3; i++) CHECK_INT(send_dm(f, ALICE, BOB, "kept", &ids[i]), 0);
    store_close(f->store);
    f->store = NULL;
    open_store(f);

    struct store_op *op = history_op(BOB, 0, ALICE, 0, 10);
    CHECK_INT(run(f, op), 0);
    CHECK_INT(op->history.count, 3);
    for (int i = 0; i < 3 && i < (int)op->history.count; i++)
        CHECK_INT(op->history.messages[i].message_id, ids[i]);
    store_op_free(op);
    int64_t next = 0;
    CHECK_INT(send_dm(f, BOB, ALICE, "after", &next), 0);
    CHECK(next > ids[2]);
}

static void contract_close_runs_what_was_submitted(struct fixture *f)
{
    static struct sent sent[50];
    static atomic_int completed;
    atomic_init(&completed, 0);
    struct waiter w;
    waiter_init(&w, 50);
    for (int i = 0; i < 50; i++) {
        sent[i].waiter = &w;
        sent[i].completed = &completed;
        atomic_init(&sent[i].calls, 0);
        /* all alice's on SQLite; on PostgreSQL both ways, as before */
        bool bobs = ENGINE_IS_POSTGRES && i % 2 == 0;
        struct store_op *op = dm_op(bobs ? BOB : ALICE, bobs ? ALICE : BOB, "late", NULL);
        op->owner = &sent[i];
        op->done = sent_done;
        store_submit(f->store, op);
    }
    store_close(f->store);
    f->store = NULL;
    waiter_wait(&w);
    int bad = 0;
    for (int i = 0; i < 50; i++) bad += atomic_load(&sent[i].calls) != 1 || sent[i].status != 0;
    CHECK_INT(bad, 0);
    CHECK_INT(message_count(f), 50);
}

#endif
