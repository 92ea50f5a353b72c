/* The engine-independent half of the store: picks an engine from
 * DATABASE_URL, runs the storage thread that group-commits whatever event
 * loops have submitted, keeps the readiness flag current, and owns the
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

/* The most ops one transaction carries. Past this, a commit holds back the
 * acknowledgement of the first op for too long, and one fsync is already
 * shared by enough ops that a bigger batch buys little. */
#define STORE_BATCH_MAX 512

/* How often the database is pinged, busy or idle, so /ready never lags the
 * truth by more than this. */
#define STORE_PING_INTERVAL_MS 1000

struct store {
    const struct store_engine *engine;
    void *engine_state; /* touched only by the storage thread */
    pthread_t thread;

    /* The submission list: the lock is held only to link or unlink ops. */
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* the storage thread sleeps on it */
    struct store_op *head; /* oldest submitted op, guarded by lock */
    struct store_op *tail; /* guarded by lock */
    bool stopping;         /* guarded by lock */

    /* Start-up hand-shake: the engine is opened on the storage thread, and
     * store_open waits here for the outcome. */
    pthread_cond_t started_cond;
    bool started;    /* guarded by lock */
    int open_status; /* guarded by lock */
    const char *url; /* valid until started */
    char *err;       /* the caller's buffer, valid until started */
    size_t errlen;

    atomic_bool ready;
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
 * Submission
 * ------------------------------------------------------------------------- */

void store_submit(struct store *store, struct store_op *op)
{
    op->next = NULL;
    pthread_mutex_lock(&store->lock);
    bool was_empty = store->head == NULL;
    if (was_empty)
        store->head = op;
    else
        store->tail->next = op;
    store->tail = op;
    pthread_mutex_unlock(&store->lock);
    /* A non-empty list means the thread was already woken, or is running a
     * batch and will look again before it sleeps. */
    if (was_empty) pthread_cond_signal(&store->wake);
}

bool store_ready(const struct store *store)
{
    return atomic_load(&store->ready);
}

/* ---------------------------------------------------------------------------
 * The storage thread
 * ------------------------------------------------------------------------- */

static struct timespec store_deadline(int64_t monotonic_ms)
{
    struct timespec ts = {.tv_sec = monotonic_ms / 1000,
                          .tv_nsec = (monotonic_ms % 1000) * 1000000};
    return ts;
}

/* Waits until something is submitted, the store is stopping, or the
 * deadline passes; then takes the whole list. */
static struct store_op *store_take(struct store *store, int64_t deadline_ms, bool *stopping)
{
    struct timespec deadline = store_deadline(deadline_ms);
    pthread_mutex_lock(&store->lock);
    while (!store->head && !store->stopping) {
        if (pthread_cond_timedwait(&store->wake, &store->lock, &deadline) == ETIMEDOUT) break;
    }
    struct store_op *list = store->head;
    store->head = store->tail = NULL;
    *stopping = store->stopping;
    pthread_mutex_unlock(&store->lock);
    return list;
}

/* Runs list in batches of at most STORE_BATCH_MAX ops: one engine call (one
 * transaction) per batch, then every done callback of that batch. */
static void store_run_list(struct store *store, struct store_op *list)
{
    struct store_op *batch[STORE_BATCH_MAX];
    while (list) {
        size_t n = 0;
        for (; list && n < STORE_BATCH_MAX; list = list->next) batch[n++] = list;
        store->engine->run_batch(store->engine_state, batch, n);
        for (size_t i = 0; i < n; i++) batch[i]->done(batch[i]);
    }
}

static void store_ping(struct store *store)
{
    bool ok = store->engine->ping(store->engine_state);
    bool was = atomic_exchange(&store->ready, ok);
    if (was && !ok) log_error("store: the database stopped answering");
    if (!was && ok) log_info("store: the database answers again");
}

/* Opens the engine on this thread and tells store_open how it went. */
static bool store_thread_open(struct store *store)
{
    int rc = store->engine->open(&store->engine_state, store->url, store->err, store->errlen);
    atomic_store(&store->ready, rc == 0);
    pthread_mutex_lock(&store->lock);
    store->open_status = rc;
    store->started = true;
    pthread_mutex_unlock(&store->lock);
    pthread_cond_signal(&store->started_cond);
    return rc == 0;
}

static void *store_thread_main(void *arg)
{
    struct store *store = arg;
    if (!store_thread_open(store)) return NULL;

    int64_t next_ping = clock_monotonic_ms() + STORE_PING_INTERVAL_MS;
    for (;;) {
        bool stopping;
        struct store_op *list = store_take(store, next_ping, &stopping);
        if (list) store_run_list(store, list);
        if (clock_monotonic_ms() >= next_ping) {
            store_ping(store);
            next_ping = clock_monotonic_ms() + STORE_PING_INTERVAL_MS;
        }
        if (!list && stopping) break;
    }
    store->engine->close(store->engine_state);
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
        snprintf(err, errlen, "PostgreSQL support is not built yet");
        return CHAT_E_CONFIG;
    }
    /* The URL itself is not echoed: it may carry a password. */
    snprintf(err, errlen, "DATABASE_URL must start with sqlite: or postgres://");
    return CHAT_E_CONFIG;
}

static int store_init_sync(struct store *store)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) return CHAT_E_NOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = CHAT_E_NOMEM;
    if (pthread_mutex_init(&store->lock, NULL) != 0) goto out_attr;
    if (pthread_cond_init(&store->wake, &attr) != 0) goto out_lock;
    if (pthread_cond_init(&store->started_cond, NULL) != 0) goto out_wake;
    rc = 0;
    goto out_attr;
out_wake:
    pthread_cond_destroy(&store->wake);
out_lock:
    pthread_mutex_destroy(&store->lock);
out_attr:
    pthread_condattr_destroy(&attr);
    return rc;
}

static void store_destroy_sync(struct store *store)
{
    pthread_cond_destroy(&store->started_cond);
    pthread_cond_destroy(&store->wake);
    pthread_mutex_destroy(&store->lock);
}

/* Starts the storage thread and waits for it to open the engine. */
static int store_start_thread(struct store *store, char *err, size_t errlen)
{
    if (pthread_create(&store->thread, NULL, store_thread_main, store) != 0) {
        snprintf(err, errlen, "cannot start the storage thread");
        return CHAT_E_NOMEM;
    }
    pthread_mutex_lock(&store->lock);
    while (!store->started) pthread_cond_wait(&store->started_cond, &store->lock);
    int rc = store->open_status;
    pthread_mutex_unlock(&store->lock);
    store->url = NULL;
    store->err = NULL;
    if (rc != 0) pthread_join(store->thread, NULL);
    return rc;
}

int store_open(struct store **out, const char *database_url, char *err, size_t errlen)
{
    *out = NULL;
    struct store *store = calloc(1, sizeof *store);
    if (!store) return CHAT_E_NOMEM;
    int rc = store_pick_engine(database_url, &store->engine, err, errlen);
    if (rc != 0) goto fail_store;
    rc = store_init_sync(store);
    if (rc != 0) goto fail_store;
    store->url = database_url;
    store->err = err;
    store->errlen = errlen;
    rc = store_start_thread(store, err, errlen);
    if (rc != 0) goto fail_sync;
    *out = store;
    return 0;

fail_sync:
    store_destroy_sync(store);
fail_store:
    free(store);
    return rc;
}

void store_close(struct store *store)
{
    if (!store) return;
    pthread_mutex_lock(&store->lock);
    store->stopping = true;
    pthread_mutex_unlock(&store->lock);
    pthread_cond_signal(&store->wake);
    pthread_join(store->thread, NULL);
    store_destroy_sync(store);
    free(store);
}
