/* The engine-independent half of the store: picks an engine from
 * DATABASE_URL, runs the storage threads (one per engine connection) that
 * group-commit whatever event loops have submitted, routes each op to a
 * thread by its user, keeps the readiness flags current, and owns the
 * lifetime rules of store_op. */
#include "store/store.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the database is pinged, busy or idle, so /ready never lags the
 * truth by more than this; while it does not answer, pings come faster and
 * the engine spaces its reconnection attempts with its own backoff. */
#define STORE_PING_INTERVAL_MS 1000
#define STORE_PING_RETRY_MS 100

/* A batch that has waited on the database this long makes store_ready false
 * while it waits: a server that accepts connections but does not answer is
 * not ready, and the engine's own deadline ends the wait later. */
#define STORE_STALL_MS 1500

/* One storage thread with its submission list and its engine state (for
 * PostgreSQL, one connection). */
struct store_worker {
    struct store *store;
    void *engine_state; /* touched only by this worker's thread */
    pthread_t thread;

    /* The submission list: the lock is held only to link or unlink ops. */
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* the thread sleeps on it */
    struct store_op *head; /* oldest submitted op, guarded by lock */
    struct store_op *tail; /* guarded by lock */
    bool stopping;         /* guarded by lock */
    bool sync_ready;       /* lock and wake were initialized */
    bool thread_started;

    atomic_bool ready;
    atomic_int_fast64_t busy_since_ms; /* monotonic start of the running batch, 0 when idle */
};

struct store {
    const struct store_engine *engine;
    struct store_worker *workers;
    int worker_count;
    atomic_uint next_worker; /* ops with no user go to the workers in turn */

    /* Start-up hand-shake: each engine connection is opened on its own
     * thread, and store_open waits here until every thread has tried. */
    pthread_mutex_t start_lock;
    pthread_cond_t started_cond;
    int started;     /* guarded by start_lock */
    int open_status; /* the first failure, guarded by start_lock */
    const char *url; /* valid until every thread started */
    char *err;       /* the caller's buffer, valid until every thread started */
    size_t errlen;
};

/* ---------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------- */

struct store_op *store_op_new(enum store_op_kind kind)
{
    struct store_op *op = calloc(1, sizeof *op);
    if (op) op->kind = kind;
    return op;
}

void store_user_clear(struct store_user *user)
{
    free(user->username);
    free(user->display_name);
    free(user->profile_picture);
    memset(user, 0, sizeof *user);
}

void store_message_clear(struct store_message *message)
{
    free(message->ciphertext);
    free(message->client_message_id);
    store_user_clear(&message->sender);
    memset(message, 0, sizeof *message);
}

static void store_history_clear(struct store_op *op)
{
    for (size_t i = 0; i < op->history.count; i++) store_message_clear(&op->history.messages[i]);
    free(op->history.messages);
    op->history.messages = NULL;
    op->history.count = 0;
    op->history.has_more = false;
}

void store_op_clear_results(struct store_op *op)
{
    switch (op->kind) {
    case STORE_OP_PING:
        break;
    case STORE_OP_AUTH:
        store_user_clear(&op->auth.user);
        free(op->auth.following);
        op->auth.following = NULL;
        op->auth.following_count = 0;
        break;
    case STORE_OP_PROFILE:
        store_user_clear(&op->profile.user);
        break;
    case STORE_OP_DM_SEND:
        store_message_clear(&op->dm_send.message);
        store_user_clear(&op->dm_send.recipient);
        op->dm_send.duplicate = false;
        break;
    case STORE_OP_HISTORY:
        store_history_clear(op);
        break;
    case STORE_OP_REVALIDATE:
        for (size_t i = 0; i < op->revalidate.count; i++) op->revalidate.sessions[i].status = 0;
        break;
    }
}

void store_op_free(struct store_op *op)
{
    if (!op) return;
    store_op_clear_results(op);
    if (op->kind == STORE_OP_DM_SEND) free(op->dm_send.ciphertext);
    if (op->kind == STORE_OP_REVALIDATE) {
        for (size_t i = 0; i < op->revalidate.count; i++) free(op->revalidate.sessions[i].jti);
        free(op->revalidate.sessions);
    }
    free(op);
}

/* ---------------------------------------------------------------------------
 * Submission and routing
 * ------------------------------------------------------------------------- */

/* The user whose operations must stay in order, or 0 for an op that may run
 * on any thread. */
static int64_t store_op_user(const struct store_op *op)
{
    switch (op->kind) {
    case STORE_OP_DM_SEND:
        return op->dm_send.sender_id;
    case STORE_OP_HISTORY:
        return op->history.user_id;
    case STORE_OP_AUTH:
        return op->auth.user_id;
    case STORE_OP_PING:
    case STORE_OP_PROFILE:
    case STORE_OP_REVALIDATE:
        break;
    }
    return 0;
}

static struct store_worker *store_route(struct store *store, const struct store_op *op)
{
    if (store->worker_count == 1) return &store->workers[0];
    uint64_t user = (uint64_t)store_op_user(op);
    if (user == 0) {
        unsigned turn = atomic_fetch_add_explicit(&store->next_worker, 1, memory_order_relaxed);
        return &store->workers[turn % (unsigned)store->worker_count];
    }
    /* Fibonacci hashing: consecutive ids spread over the threads, and so do
     * ids that share a stride (all even, say). */
    uint64_t mixed = user * 0x9E3779B97F4A7C15ULL;
    return &store->workers[(mixed >> 32) % (uint64_t)store->worker_count];
}

void store_submit(struct store *store, struct store_op *op)
{
    struct store_worker *worker = store_route(store, op);
    op->next = NULL;
    pthread_mutex_lock(&worker->lock);
    bool was_empty = worker->head == NULL;
    if (was_empty)
        worker->head = op;
    else
        worker->tail->next = op;
    worker->tail = op;
    pthread_mutex_unlock(&worker->lock);
    /* A non-empty list means the thread was already woken, or is running a
     * batch and will look again before it sleeps. */
    if (was_empty) pthread_cond_signal(&worker->wake);
}

bool store_ready(const struct store *store)
{
    int64_t now = clock_monotonic_ms();
    for (int i = 0; i < store->worker_count; i++) {
        const struct store_worker *worker = &store->workers[i];
        if (!atomic_load(&worker->ready)) return false;
        int64_t since = atomic_load(&worker->busy_since_ms);
        if (since != 0 && now - since > STORE_STALL_MS) return false;
    }
    return true;
}

int store_pool_size(const struct store *store)
{
    return store->worker_count;
}

const char *store_engine_name(const struct store *store)
{
    return store->engine->name;
}

/* ---------------------------------------------------------------------------
 * The storage threads
 * ------------------------------------------------------------------------- */

static struct timespec store_deadline(int64_t monotonic_ms)
{
    struct timespec ts = {.tv_sec = monotonic_ms / 1000,
                          .tv_nsec = (monotonic_ms % 1000) * 1000000};
    return ts;
}

/* Waits until something is submitted, the store is stopping, or the
 * deadline passes; then takes the whole list. */
static struct store_op *store_take(struct store_worker *worker, int64_t deadline_ms, bool *stopping)
{
    struct timespec deadline = store_deadline(deadline_ms);
    pthread_mutex_lock(&worker->lock);
    while (!worker->head && !worker->stopping) {
        if (pthread_cond_timedwait(&worker->wake, &worker->lock, &deadline) == ETIMEDOUT) break;
    }
    struct store_op *list = worker->head;
    worker->head = worker->tail = NULL;
    *stopping = worker->stopping;
    pthread_mutex_unlock(&worker->lock);
    return list;
}

static void store_set_ready(struct store_worker *worker, bool ok)
{
    bool was = atomic_exchange(&worker->ready, ok);
    int index = (int)(worker - worker->store->workers);
    if (was && !ok) log_error("store: connection %d: the database stopped answering", index);
    if (!was && ok) log_info("store: connection %d: the database answers again", index);
}

/* Runs list in batches of at most the engine's batch_max ops: one engine
 * call (one transaction) per batch, then every done callback of that batch. */
static void store_run_list(struct store_worker *worker, struct store_op *list)
{
    const struct store_engine *engine = worker->store->engine;
    struct store_op *batch[STORE_BATCH_MAX];
    while (list) {
        size_t n = 0;
        for (; list && n < engine->batch_max; list = list->next) batch[n++] = list;
        atomic_store(&worker->busy_since_ms, clock_monotonic_ms());
        engine->run_batch(worker->engine_state, batch, n);
        atomic_store(&worker->busy_since_ms, 0);
        if (engine->healthy && !engine->healthy(worker->engine_state))
            store_set_ready(worker, false);
        for (size_t i = 0; i < n; i++) batch[i]->done(batch[i]);
    }
}

/* Pings, and says when the next ping is due: soon while the database does
 * not answer, so that readiness comes back as soon as the engine is back. */
static int64_t store_ping(struct store_worker *worker)
{
    const struct store_engine *engine = worker->store->engine;
    atomic_store(&worker->busy_since_ms, clock_monotonic_ms());
    bool ok = engine->ping(worker->engine_state);
    atomic_store(&worker->busy_since_ms, 0);
    store_set_ready(worker, ok);
    return clock_monotonic_ms() + (ok ? STORE_PING_INTERVAL_MS : STORE_PING_RETRY_MS);
}

/* Opens this thread's engine state and tells store_open how it went. */
static bool store_thread_open(struct store_worker *worker)
{
    struct store *store = worker->store;
    char err[256] = "";
    int rc = store->engine->open(&worker->engine_state, store->url, err, sizeof err);
    atomic_store(&worker->ready, rc == 0);
    pthread_mutex_lock(&store->start_lock);
    if (rc != 0 && store->open_status == 0) {
        store->open_status = rc;
        snprintf(store->err, store->errlen, "%s", err);
    }
    store->started++;
    pthread_cond_signal(&store->started_cond);
    pthread_mutex_unlock(&store->start_lock);
    return rc == 0;
}

static void *store_thread_main(void *arg)
{
    struct store_worker *worker = arg;
    const struct store_engine *engine = worker->store->engine;
    char name[16]; /* what top -H and perf show */
    snprintf(name, sizeof name, "chatd-store-%d", (int)(worker - worker->store->workers));
    pthread_setname_np(pthread_self(), name);
    if (!store_thread_open(worker)) return NULL;

    int64_t next_ping = clock_monotonic_ms() + STORE_PING_INTERVAL_MS;
    for (;;) {
        bool stopping;
        struct store_op *list = store_take(worker, next_ping, &stopping);
        if (list) store_run_list(worker, list);
        if (clock_monotonic_ms() >= next_ping || (list && !atomic_load(&worker->ready)))
            next_ping = store_ping(worker);
        if (!list && stopping) break;
    }
    engine->close(worker->engine_state);
    worker->engine_state = NULL;
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Opening and closing
 * ------------------------------------------------------------------------- */

static int store_pick_engine(const char *url, const struct store_engine **engine, char *err,
                             size_t errlen)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        *engine = &store_engine_sqlite;
        return 0;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        *engine = store_engine_postgres_load(err, errlen);
        return *engine ? 0 : CHAT_E_CONFIG;
    }
    /* The URL itself is not echoed: it may carry a password. */
    snprintf(err, errlen, "DATABASE_URL must start with sqlite:, postgres:// or postgresql://");
    return CHAT_E_CONFIG;
}

/* A condition variable that waits on the monotonic clock. */
static int store_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) return CHAT_E_NOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &attr) == 0 ? 0 : CHAT_E_NOMEM;
    pthread_condattr_destroy(&attr);
    return rc;
}

static int store_worker_init(struct store *store, struct store_worker *worker)
{
    worker->store = store;
    atomic_init(&worker->ready, false);
    atomic_init(&worker->busy_since_ms, 0);
    if (pthread_mutex_init(&worker->lock, NULL) != 0) return CHAT_E_NOMEM;
    if (store_cond_init_monotonic(&worker->wake) != 0) {
        pthread_mutex_destroy(&worker->lock);
        return CHAT_E_NOMEM;
    }
    worker->sync_ready = true;
    return 0;
}

/* Stops and joins the worker's thread (it runs what it holds first). */
static void store_worker_stop(struct store_worker *worker)
{
    if (worker->thread_started) {
        pthread_mutex_lock(&worker->lock);
        worker->stopping = true;
        pthread_mutex_unlock(&worker->lock);
        pthread_cond_signal(&worker->wake);
        pthread_join(worker->thread, NULL);
        worker->thread_started = false;
    }
    if (worker->sync_ready) {
        pthread_cond_destroy(&worker->wake);
        pthread_mutex_destroy(&worker->lock);
        worker->sync_ready = false;
    }
}

/* Frees the store and everything store_open set up; threads are stopped
 * first. Accepts a half-built store. */
static void store_destroy(struct store *store)
{
    for (int i = 0; i < store->worker_count; i++) store_worker_stop(&store->workers[i]);
    free(store->workers);
    pthread_cond_destroy(&store->started_cond);
    pthread_mutex_destroy(&store->start_lock);
    free(store);
}

/* Starts every worker's thread and waits until each has opened its engine
 * state (or failed to). */
static int store_start_threads(struct store *store, char *err, size_t errlen)
{
    int rc = 0, launched = 0;
    for (int i = 0; i < store->worker_count && rc == 0; i++) {
        struct store_worker *worker = &store->workers[i];
        rc = store_worker_init(store, worker);
        if (rc == 0 && pthread_create(&worker->thread, NULL, store_thread_main, worker) != 0) {
            snprintf(err, errlen, "cannot start a storage thread");
            rc = CHAT_E_NOMEM;
        }
        if (rc == 0) {
            worker->thread_started = true;
            launched++;
        }
    }
    pthread_mutex_lock(&store->start_lock);
    while (store->started < launched) pthread_cond_wait(&store->started_cond, &store->start_lock);
    pthread_mutex_unlock(&store->start_lock);
    return rc != 0 ? rc : store->open_status;
}

int store_open(struct store **out, const char *database_url, int pool_size, char *err,
               size_t errlen)
{
    *out = NULL;
    const struct store_engine *engine;
    int rc = store_pick_engine(database_url, &engine, err, errlen);
    if (rc != 0) return rc;
    if (engine->setup && (rc = engine->setup(database_url, err, errlen)) != 0) return rc;

    rc = CHAT_E_NOMEM;
    struct store *store = calloc(1, sizeof *store);
    if (!store) return rc;
    store->engine = engine;
    store->worker_count = pool_size < 1 ? 1 : pool_size;
    if (store->worker_count > engine->max_connections)
        store->worker_count = engine->max_connections;
    store->workers = calloc((size_t)store->worker_count, sizeof *store->workers);
    if (!store->workers) goto fail_store;
    if (pthread_mutex_init(&store->start_lock, NULL) != 0) goto fail_workers;
    if (pthread_cond_init(&store->started_cond, NULL) != 0) goto fail_lock;

    store->url = database_url;
    store->err = err;
    store->errlen = errlen;
    rc = store_start_threads(store, err, errlen);
    store->url = NULL;
    store->err = NULL;
    if (rc != 0) {
        store_destroy(store); /* stops the threads that did start */
        return rc;
    }
    *out = store;
    return 0;

fail_lock:
    pthread_mutex_destroy(&store->start_lock);
fail_workers:
    free(store->workers);
fail_store:
    free(store);
    return rc;
}

void store_close(struct store *store)
{
    if (store) store_destroy(store);
}
