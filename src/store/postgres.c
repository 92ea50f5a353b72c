/* The PostgreSQL engine of the store: one libpq connection per storage
 * thread, non-blocking and in pipeline mode, so a whole batch travels in one
 * round trip: BEGIN, one prepared call per op, COMMIT, then a sync. The
 * transaction commits once for the batch (group commit, with
 * synchronous_commit on). Each op's chat_* function catches its own errors,
 * so a failing op fails alone; if one raises anyway, the batch is run again
 * without it. Every wait has a deadline, a lost connection is reopened with
 * backoff, and nothing is acknowledged unless its COMMIT was answered. */
#include "store/postgres.h"
#include "store/postgres_schema.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opening a connection, at start-up and when reconnecting. */
#define PG_OPEN_TIMEOUT_MS 5000
#define PG_RECONNECT_TIMEOUT_MS 2000

/* A batch (with its retries) that has not been answered by then is given up
 * as unavailable and its connection dropped: a server that stopped answering
 * cannot hold a storage thread. The server cancels a statement sooner
 * (statement_timeout, 4 s), so a statement stuck on a lock fails alone and
 * the connection survives. */
#define PG_BATCH_DEADLINE_MS 5000
#define PG_PING_DEADLINE_MS 1000

/* Reconnection attempts: 100 ms after the first failure, doubling to 2 s. */
#define PG_BACKOFF_FIRST_MS 100
#define PG_BACKOFF_MAX_MS 2000

/* Ops per transaction: as many as the store hands over. A run of DMs is one
 * statement with one exception block (one subtransaction), so a batch stays
 * far below the 64 writing subtransactions past which a backend's subxid
 * cache overflows and slows every other backend's snapshots; only a run
 * that falls back to one chat_dm_send per DM gets near it. */
#define PG_BATCH_MAX STORE_BATCH_MAX

/* libpq's own settings, listed before the URL so that the URL may override
 * them: TCP keepalives and a user timeout, so a vanished server is noticed
 * even on an idle connection. */
static const char *const connect_keys[] = {
    "connect_timeout",     "keepalives",       "keepalives_idle",
    "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    "application_name",    "dbname",           NULL,
};
#define CONNECT_URL_INDEX 7

/* Set on every connection. synchronous_commit is what makes an
 * acknowledgement survive a crash (protocol §8), whatever the server's
 * default. jit: PostgreSQL compiles a query whose estimated cost passes
 * jit_above_cost (100,000 by default, and chat_dm_send_many's plan for a run
 * of a few hundred DMs costs ~700,000), with inlining and optimization past
 * 500,000: that took 1.2-1.5 s per call where the call itself takes 21-35 ms
 * (measured: 462 DMs), and a closed loop with four pooled connections fell
 * to ~1,000 DMs/s. chatd's statements are short and planned per call; JIT
 * never pays for them. */
static const char *const session_settings[] = {
    "SET synchronous_commit = on",       "SET jit = off",
    "SET client_min_messages = warning", "SET bytea_output = hex",
    "SET statement_timeout = 4000",
};
#define SESSION_SETTING_COUNT (sizeof session_settings / sizeof session_settings[0])

struct engine {
    char *url;           /* owned */
    PGconn *conn;        /* NULL while disconnected */
    int64_t retry_at_ms; /* monotonic; no reconnection attempt before */
    int backoff_ms;
    bool down_logged; /* the outage was logged once */
    /* The statements of the batch in flight: one per op, or one per run of
     * consecutive DMs (calls[i] covers ops[first .. first + count)). */
    struct pg_call {
        size_t first, count;
        enum pg_send sent;
    } calls[STORE_BATCH_MAX];
    size_t call_count;
    /* solo[i]: ops[i] goes in a statement of its own, after the run it was
     * part of raised an error (so that the error stays with its op). */
    bool solo[STORE_BATCH_MAX];
    enum pg_send prepare_sent; /* chat_dm_prepare leads this batch's pipeline */
    struct pg_dm dm;
};

/* ---------------------------------------------------------------------------
 * Waiting on the socket, always with a deadline
 * ------------------------------------------------------------------------- */

/* Waits for events on conn's socket: the revents, 0 at the deadline, or -1. */
static int pg_poll(PGconn *conn, short events, int64_t deadline_ms)
{
    int fd = PQsocket(conn);
    if (fd < 0) return -1;
    for (;;) {
        int64_t left = deadline_ms - clock_monotonic_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0) return p.revents;
        if (rc == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* Sends what libpq holds, reading meanwhile so that a server blocked on
 * writing results never blocks us in turn. 0, or -1. */
static int pg_flush(PGconn *conn, int64_t deadline_ms)
{
    for (;;) {
        int rc = PQflush(conn);
        if (rc <= 0) return rc;
        int ready = pg_poll(conn, POLLIN | POLLOUT, deadline_ms);
        if (ready <= 0) return -1;
        if ((ready & POLLIN) && !PQconsumeInput(conn)) return -1;
    }
}

/* The next result, NULL marking the end of one statement's results: 0, or
 * -1 when the connection failed or the deadline passed. */
static int pg_next(PGconn *conn, int64_t deadline_ms, PGresult **res)
{
    while (PQisBusy(conn)) {
        if (pg_poll(conn, POLLIN, deadline_ms) <= 0 || !PQconsumeInput(conn)) return -1;
    }
    *res = PQgetResult(conn);
    return 0;
}

/* One statement's result (the caller clears it), its end marker consumed;
 * or the sync result, which has none. 0, or -1 (then *out is NULL). */
static int pg_take(PGconn *conn, int64_t deadline_ms, PGresult **out)
{
    *out = NULL;
    PGresult *res;
    if (pg_next(conn, deadline_ms, &res) != 0 || !res) return -1;
    while (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        PGresult *end;
        if (pg_next(conn, deadline_ms, &end) != 0) {
            PQclear(res);
            return -1;
        }
        if (!end) break;
        PQclear(end);
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
        PQclear(res);
        return -1;
    }
    *out = res;
    return 0;
}

/* Takes one result and tells whether it has the wanted status. */
static bool pg_take_status(PGconn *conn, int64_t deadline_ms, ExecStatusType wanted)
{
    PGresult *res;
    if (pg_take(conn, deadline_ms, &res) != 0) return false;
    bool ok = PQresultStatus(res) == wanted;
    PQclear(res);
    return ok;
}

/* ---------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------- */

/* The first line of a libpq message, after what. */
static void pg_error(char *err, size_t errlen, const char *what, const char *message)
{
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(message, "\n"), message);
}

static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("store: postgres: %.*s", (int)strcspn(message, "\n"), message);
}

/* Opens a connection without ever blocking past the deadline. */
static PGconn *pg_connect(const char *url, int64_t deadline_ms, char *err, size_t errlen)
{
    const char *values[] = {"2", "1", "10", "3", "3", "5000", "chatd", url, NULL};
    _Static_assert(sizeof values == sizeof connect_keys, "one value per key");
    values[CONNECT_URL_INDEX] = url;
    PGconn *conn = PQconnectStartParams(connect_keys, values, 1);
    if (!conn) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (pg_poll(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ms) <= 0) {
            snprintf(err, errlen, "cannot connect to PostgreSQL: no answer in time");
            PQfinish(conn);
            return NULL;
        }
        st = PQconnectPoll(conn);
    }
    if (st != PGRES_POLLING_OK) {
        pg_error(err, errlen, "cannot connect to PostgreSQL", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    return conn;
}

/* Switches a fresh connection to non-blocking pipeline mode, applies the
 * session settings and prepares every statement, in one round trip. */
static int pg_session_setup(PGconn *conn, int64_t deadline_ms, char *err, size_t errlen)
{
    if (PQsetnonblocking(conn, 1) != 0 || !PQenterPipelineMode(conn)) {
        pg_error(err, errlen, "cannot enter pipeline mode", PQerrorMessage(conn));
        return CHAT_E_UNAVAILABLE;
    }
    bool queued = true;
    for (size_t i = 0; i < SESSION_SETTING_COUNT; i++)
        queued =
            queued && PQsendQueryParams(conn, session_settings[i], 0, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; i < PG_STMT_COUNT; i++)
        queued = queued && PQsendPrepare(conn, pg_stmt_name[i], pg_stmt_sql[i], 0, NULL);
    if (!queued || !PQpipelineSync(conn) || pg_flush(conn, deadline_ms) != 0) {
        pg_error(err, errlen, "cannot set up the connection", PQerrorMessage(conn));
        return CHAT_E_UNAVAILABLE;
    }
    int rc = 0;
    for (size_t i = 0; i < SESSION_SETTING_COUNT + PG_STMT_COUNT; i++) {
        PGresult *res;
        if (pg_take(conn, deadline_ms, &res) != 0) {
            pg_error(err, errlen, "cannot set up the connection", PQerrorMessage(conn));
            return CHAT_E_UNAVAILABLE;
        }
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            pg_error(err, errlen, "cannot prepare chatd's statements", PQresultErrorMessage(res));
            rc = CHAT_E_CONFIG;
        }
        PQclear(res);
    }
    if (!pg_take_status(conn, deadline_ms, PGRES_PIPELINE_SYNC) && rc == 0) {
        pg_error(err, errlen, "cannot set up the connection", PQerrorMessage(conn));
        rc = CHAT_E_UNAVAILABLE;
    }
    return rc;
}

static PGconn *pg_open_session(const char *url, int64_t deadline_ms, char *err, size_t errlen,
                               int *rc)
{
    PGconn *conn = pg_connect(url, deadline_ms, err, errlen);
    *rc = CHAT_E_UNAVAILABLE;
    if (!conn) return NULL;
    *rc = pg_session_setup(conn, deadline_ms, err, errlen);
    if (*rc == 0) return conn;
    PQfinish(conn);
    return NULL;
}

/* Closes a connection that failed; the next attempt may come at once. */
static void pg_drop(struct engine *e, const char *why)
{
    if (!e->conn) return;
    const char *message = PQerrorMessage(e->conn);
    if (!message[0]) message = "no answer in time";
    if (!e->down_logged)
        log_warn("store: postgres: %s: %.*s", why, (int)strcspn(message, "\n"), message);
    PQfinish(e->conn);
    e->conn = NULL;
    e->retry_at_ms = clock_monotonic_ms();
}

/* 0 with e->conn usable, or CHAT_E_UNAVAILABLE while the database cannot be
 * reached (one attempt at most, and none before the backoff allows). */
static int pg_ensure_connected(struct engine *e)
{
    if (e->conn && PQstatus(e->conn) == CONNECTION_OK) return 0;
    pg_drop(e, "connection lost");
    if (clock_monotonic_ms() < e->retry_at_ms) return CHAT_E_UNAVAILABLE;
    char err[256];
    int rc;
    e->conn = pg_open_session(e->url, clock_monotonic_ms() + PG_RECONNECT_TIMEOUT_MS, err,
                              sizeof err, &rc);
    if (e->conn) {
        if (e->down_logged) log_info("store: postgres: connected again");
        e->backoff_ms = 0;
        e->down_logged = false;
        return 0;
    }
    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : PG_BACKOFF_FIRST_MS;
    if (e->backoff_ms > PG_BACKOFF_MAX_MS) e->backoff_ms = PG_BACKOFF_MAX_MS;
    e->retry_at_ms = clock_monotonic_ms() + e->backoff_ms;
    if (!e->down_logged) log_warn("store: postgres: %s (retrying)", err);
    e->down_logged = true;
    return CHAT_E_UNAVAILABLE;
}

/* ---------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------- */

enum attempt {
    ATTEMPT_COMMITTED, /* every op's status and results stand */
    ATTEMPT_OP_FAILED, /* one statement raised an error: run the others again */
    ATTEMPT_FAILED,    /* rolled back: nothing stands */
    ATTEMPT_LOST,      /* the connection failed: nothing stands, not even a COMMIT */
};

/* Queues one statement per op, or per run of consecutive DMs. */
static int pg_batch_send_calls(struct engine *e, struct store_op **ops, size_t n)
{
    e->call_count = 0;
    for (size_t i = 0; i < n;) {
        struct pg_call *call = &e->calls[e->call_count++];
        call->first = i;
        call->count = e->solo[i] ? 1 : pg_dm_run(ops + i, n - i);
        for (size_t k = 1; k < call->count; k++)
            if (e->solo[i + k]) call->count = k;
        for (size_t k = i; k < i + call->count; k++) ops[k]->status = 0;
        if (pg_dm_sendable(ops[i]))
            call->sent = pg_dm_send(e->conn, &e->dm, ops + i, call->count);
        else
            call->sent = pg_op_send(e->conn, ops[i]);
        if (call->sent == PG_SEND_FAILED) return -1;
        i += call->count;
    }
    return 0;
}

/* Queues the conversations the DMs need (chat_dm_prepare and a sync, when
 * some are not known yet), then BEGIN, the statements, COMMIT and a sync,
 * and sends them: one round trip. */
static int pg_batch_send(struct engine *e, struct store_op **ops, size_t n, int64_t deadline_ms)
{
    PGconn *conn = e->conn;
    e->prepare_sent = pg_dm_prepare_send(conn, &e->dm, ops, n);
    if (e->prepare_sent == PG_SEND_FAILED) return -1;
    if (!PQsendQueryPrepared(conn, pg_stmt_name[PG_STMT_BEGIN], 0, NULL, NULL, NULL, 0)) return -1;
    if (pg_batch_send_calls(e, ops, n) != 0) return -1;
    if (!PQsendQueryPrepared(conn, pg_stmt_name[PG_STMT_COMMIT], 0, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(conn))
        return -1;
    return pg_flush(conn, deadline_ms);
}

/* The status of the ops of a statement that raised an error its function
 * did not catch: "unavailable" when a retry may not meet it again. */
static int pg_raised_status(const PGresult *res, const struct store_op *op)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    log_warn("store: postgres: %s raised %s: %s", pg_stmt_name[pg_op_statement(op)],
             state ? state : "an error", message ? message : "(no message)");
    if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
                  strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0))
        return CHAT_E_UNAVAILABLE;
    return CHAT_E_INTERNAL;
}

static void pg_call_read(struct store_op **ops, const struct pg_call *call, const PGresult *res)
{
    struct store_op **first = ops + call->first;
    if (pg_dm_sendable(first[0]))
        pg_dm_read(first, call->count, res);
    else
        first[0]->status = pg_op_read(first[0], res);
}

/* Reads each statement's result; the first that raised is named in *failed
 * (an index into e->calls). */
static int pg_batch_read_calls(struct engine *e, struct store_op **ops, int64_t deadline_ms,
                               size_t *failed)
{
    bool raised = false;
    for (size_t i = 0; i < e->call_count; i++) {
        const struct pg_call *call = &e->calls[i];
        if (call->sent != PG_SENT) continue;
        PGresult *res;
        if (pg_take(e->conn, deadline_ms, &res) != 0) return -1;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK) {
            pg_call_read(ops, call, res);
        } else if (st == PGRES_FATAL_ERROR && !raised) {
            raised = true;
            *failed = i;
            int status = pg_raised_status(res, ops[call->first]);
            for (size_t k = call->first; k < call->first + call->count; k++)
                ops[k]->status = status;
        }
        PQclear(res);
    }
    return raised ? 1 : 0;
}

/* Ends a transaction that an error left open (the pipeline skipped its
 * COMMIT). 0, or -1 when the connection failed. */
static int pg_rollback(struct engine *e, int64_t deadline_ms)
{
    PGconn *conn = e->conn;
    if (!PQsendQueryPrepared(conn, pg_stmt_name[PG_STMT_ROLLBACK], 0, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(conn) || pg_flush(conn, deadline_ms) != 0)
        return -1;
    bool ok = pg_take_status(conn, deadline_ms, PGRES_COMMAND_OK);
    return pg_take_status(conn, deadline_ms, PGRES_PIPELINE_SYNC) && ok ? 0 : -1;
}

/* The result of chat_dm_prepare and its sync, when it was sent. Its
 * failure is not the batch's: chat_dm_send_many creates what is missing. */
static int pg_prepare_take(struct engine *e, int64_t deadline_ms)
{
    if (e->prepare_sent != PG_SENT) return 0;
    PGresult *res;
    if (pg_take(e->conn, deadline_ms, &res) != 0) return -1;
    if (!pg_take_status(e->conn, deadline_ms, PGRES_PIPELINE_SYNC)) {
        PQclear(res);
        return -1;
    }
    pg_dm_prepare_read(&e->dm, res);
    PQclear(res);
    return 0;
}

static enum attempt pg_batch_read(struct engine *e, struct store_op **ops, int64_t deadline_ms,
                                  size_t *failed)
{
    PGresult *res;
    if (pg_prepare_take(e, deadline_ms) != 0) return ATTEMPT_LOST;
    if (pg_take(e->conn, deadline_ms, &res) != 0) return ATTEMPT_LOST;
    bool begun = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    int raised = pg_batch_read_calls(e, ops, deadline_ms, failed);
    if (raised < 0) return ATTEMPT_LOST;
    /* Lost before the COMMIT's answer: the outcome is unknown, so nothing
     * is acknowledged (a resend with the same clientMessageId is safe). */
    if (pg_take(e->conn, deadline_ms, &res) != 0) return ATTEMPT_LOST;
    bool committed =
        PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
    if (PQresultStatus(res) == PGRES_FATAL_ERROR)
        log_warn("store: postgres: COMMIT failed: %.*s",
                 (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
    PQclear(res);
    bool synced = pg_take_status(e->conn, deadline_ms, PGRES_PIPELINE_SYNC);
    if (committed) return ATTEMPT_COMMITTED; /* a lost sync changes nothing */
    if (!synced) return ATTEMPT_LOST;
    if (PQtransactionStatus(e->conn) != PQTRANS_IDLE && pg_rollback(e, deadline_ms) != 0)
        return ATTEMPT_LOST;
    return begun && raised ? ATTEMPT_OP_FAILED : ATTEMPT_FAILED;
}

static void fail_ops(struct store_op **ops, size_t n, int status)
{
    for (size_t i = 0; i < n; i++) {
        store_op_clear_results(ops[i]);
        ops[i]->status = status;
    }
}

/* After a statement raised: a run of DMs is split, each DM to go alone;
 * a single op leaves the batch with its status. The others lose their
 * tentative results and run again. Returns the ops left. */
static size_t batch_remove(struct engine *e, struct store_op **ops, size_t n, size_t failed)
{
    const struct pg_call *call = &e->calls[failed];
    size_t first = call->first;
    if (call->count > 1) {
        for (size_t k = first; k < first + call->count; k++) e->solo[k] = true;
        fail_ops(ops, n, 0);
        return n;
    }
    int status = ops[first]->status;
    store_op_clear_results(ops[first]);
    ops[first]->status = status;
    memmove(&ops[first], &ops[first + 1], (n - first - 1) * sizeof *ops);
    memmove(&e->solo[first], &e->solo[first + 1], (n - first - 1) * sizeof *e->solo);
    n--;
    fail_ops(ops, n, 0);
    return n;
}

static void engine_run_batch(void *state, struct store_op **ops, size_t n)
{
    struct engine *e = state;
    int64_t deadline_ms = clock_monotonic_ms() + PG_BATCH_DEADLINE_MS;
    struct store_op *pending[STORE_BATCH_MAX];
    memcpy(pending, ops, n * sizeof *ops);
    memset(e->solo, 0, n * sizeof *e->solo);
    while (n > 0 && pg_ensure_connected(e) == 0) {
        size_t failed = 0;
        enum attempt outcome = ATTEMPT_LOST;
        if (pg_batch_send(e, pending, n, deadline_ms) == 0)
            outcome = pg_batch_read(e, pending, deadline_ms, &failed);
        if (outcome == ATTEMPT_COMMITTED) {
            for (size_t i = 0; i < n; i++)
                if (pending[i]->status != 0) store_op_clear_results(pending[i]);
            return;
        }
        if (outcome == ATTEMPT_LOST) pg_drop(e, "connection lost during a batch");
        if (outcome != ATTEMPT_OP_FAILED) break;
        n = batch_remove(e, pending, n, failed);
    }
    fail_ops(pending, n, CHAT_E_UNAVAILABLE);
}

/* ---------------------------------------------------------------------------
 * The vtable
 * ------------------------------------------------------------------------- */

static bool engine_ping(void *state)
{
    struct engine *e = state;
    if (pg_ensure_connected(e) != 0) return false;
    int64_t deadline_ms = clock_monotonic_ms() + PG_PING_DEADLINE_MS;
    PGconn *conn = e->conn;
    bool ok = PQsendQueryPrepared(conn, pg_stmt_name[PG_STMT_PING], 0, NULL, NULL, NULL, 0) &&
              PQpipelineSync(conn) && pg_flush(conn, deadline_ms) == 0;
    ok = ok && pg_take_status(conn, deadline_ms, PGRES_TUPLES_OK);
    ok = ok && pg_take_status(conn, deadline_ms, PGRES_PIPELINE_SYNC);
    if (!ok) pg_drop(e, "ping failed");
    return ok;
}

static bool engine_healthy(void *state)
{
    const struct engine *e = state;
    return e->conn && PQstatus(e->conn) == CONNECTION_OK;
}

static void engine_close(void *state)
{
    struct engine *e = state;
    if (!e) return;
    if (e->conn) PQfinish(e->conn);
    pg_dm_free(&e->dm);
    free(e->url);
    free(e);
}

static int engine_open(void **state, const char *url, char *err, size_t errlen)
{
    *state = NULL;
    struct engine *e = calloc(1, sizeof *e);
    if (!e) return CHAT_E_NOMEM;
    int rc = CHAT_E_NOMEM;
    pg_dm_init(&e->dm);
    if (!(e->url = strdup(url))) goto fail;
    e->conn = pg_open_session(url, clock_monotonic_ms() + PG_OPEN_TIMEOUT_MS, err, errlen, &rc);
    if (!e->conn) goto fail;
    *state = e;
    return 0;

fail:
    engine_close(e);
    return rc;
}

/* Once per start-up, before the pool connects: the schema. */
static int engine_setup(const char *url, char *err, size_t errlen)
{
    PGconn *conn = pg_connect(url, clock_monotonic_ms() + PG_OPEN_TIMEOUT_MS, err, errlen);
    if (!conn) return CHAT_E_UNAVAILABLE;
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    int rc = store_postgres_migrate(conn, err, errlen);
    PQfinish(conn);
    return rc;
}

const struct store_engine store_engine_postgres = {
    .name = "postgres",
    .max_connections = 256,
    .batch_max = PG_BATCH_MAX,
    .setup = engine_setup,
    .open = engine_open,
    .run_batch = engine_run_batch,
    .ping = engine_ping,
    .healthy = engine_healthy,
    .close = engine_close,
};
