/* The "store" scenario: chatd's storage layer alone, with no socket,
 * WebSocket, JSON or encryption in front of it. The generator opens the
 * store itself (src/store, DATABASE_URL and DB_POOL_SIZE as chatd reads them)
 * and submits DMs straight to it, as the event loops would: --pairs pairs of
 * `chatctl bench-users` users message each other with --window DMs in flight
 * per sender, each with --size bytes of opaque content and a client message
 * id; a DM is resubmitted as soon as the store answers it. It reports DMs/s,
 * the store's answer latency, the CPU of this process (the storage threads
 * and, on SQLite, the checkpointer) and of the rest of the machine (on
 * PostgreSQL, its backends), and the bytes this process wrote per DM (the WAL
 * and the checkpoints). What chatd can persist on this machine is bounded by
 * this figure before any network work is added. */
#include "bench.h"

#include "store/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* DB_POOL_SIZE when unset: chatd's own default. */
#define STORE_BENCH_POOL_DEFAULT 8

struct store_bench {
    struct store *store;
    int64_t run_id;
    atomic_bool measuring, stopping;
    atomic_uint_fast64_t answered, failed, in_flight;
    pthread_mutex_t hist_lock; /* done callbacks run on every storage thread */
    struct bench_hist latency;
};

/* What each op carries besides the store's own fields. */
struct store_dm {
    struct store_op *op;
    struct store_bench *bench;
    int64_t submitted_ns;
    size_t index; /* with seq, makes the client message id unique */
    uint64_t seq;
};

static struct store_bench bench_state;

static void dm_submit(struct store_dm *dm)
{
    struct store_op *op = dm->op;
    store_op_clear_results(op);
    snprintf(op->dm_send.client_message_id, sizeof op->dm_send.client_message_id,
             "s%" PRId64 "-%zu-%" PRIu64, dm->bench->run_id, dm->index, dm->seq++);
    dm->submitted_ns = bench_now_ns();
    store_submit(dm->bench->store, op);
}

/* On a storage thread: counts the answer and sends the next DM. */
static void dm_done(struct store_op *op)
{
    struct store_dm *dm = op->owner;
    struct store_bench *b = dm->bench;
    if (atomic_load(&b->measuring)) {
        int64_t took = bench_now_ns() - dm->submitted_ns;
        atomic_fetch_add(op->status == 0 ? &b->answered : &b->failed, 1);
        pthread_mutex_lock(&b->hist_lock);
        bench_hist_record(&b->latency, took);
        pthread_mutex_unlock(&b->hist_lock);
    }
    if (atomic_load(&b->stopping))
        atomic_fetch_sub(&b->in_flight, 1);
    else
        dm_submit(dm);
}

static void dms_free(struct store_dm *dms, size_t count)
{
    for (size_t i = 0; dms && i < count; i++) store_op_free(dms[i].op);
    free(dms);
}

/* count DMs, each with its op and content; NULL when memory ran out. */
static struct store_dm *dms_new(const struct bench_options *o, size_t count)
{
    struct store_dm *dms = calloc(count, sizeof *dms);
    for (size_t i = 0; dms && i < count; i++) {
        struct store_op *op = dms[i].op = store_op_new(STORE_OP_DM_SEND);
        if (!op || !(op->dm_send.ciphertext = malloc((size_t)o->size))) {
            dms_free(dms, count);
            return NULL;
        }
        int64_t pair = (int64_t)(i / 2 / (size_t)o->window), first = o->first_user + 2 * pair;
        bool forward = i % 2 == 0;
        op->dm_send.sender_id = forward ? first : first + 1;
        op->dm_send.recipient_id = forward ? first + 1 : first;
        for (int k = 0; k < o->size; k++) op->dm_send.ciphertext[k] = (uint8_t)random();
        op->dm_send.ciphertext_len = (size_t)o->size;
        op->done = dm_done;
        op->owner = &dms[i];
        dms[i].bench = &bench_state;
        dms[i].index = i;
    }
    return dms;
}

/* Bytes written by this process so far (write(2) and friends), or -1. */
static int64_t written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return -1;
    long long v = -1;
    char line[128];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %lld", &v) == 1) break;
    fclose(f);
    return v;
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)(fmod(s, 1.0) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) continue;
}

struct store_result {
    double seconds, dms_per_s, user_cores, sys_cores, other_cores, written_per_dm;
    double p50_ms, p99_ms, p999_ms, max_ms; /* the store's answer latency */
    uint64_t answered, failed;
};

static void report_text(const struct bench_options *o, const char *url, size_t in_flight,
                        const struct store_result *r, FILE *f)
{
    fprintf(f, "bench store  label=%s  %s  %zu in flight, %d B each\n", o->label, url, in_flight,
            o->size);
    fprintf(f, "  dms          %" PRIu64 " answered (%.0f/s), %" PRIu64 " failed, over %.3f s\n",
            r->answered, r->dms_per_s, r->failed, r->seconds);
    fprintf(f, "  latency (ms) p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", r->p50_ms, r->p99_ms,
            r->p999_ms, r->max_ms);
    fprintf(f,
            "  cpu          store %.2f cores (user %.2f, system %.2f): %.1f us per DM;"
            " other %.2f cores\n",
            r->user_cores + r->sys_cores, r->user_cores, r->sys_cores,
            (r->user_cores + r->sys_cores) * 1e6 / (r->dms_per_s > 0 ? r->dms_per_s : 1),
            r->other_cores);
    fprintf(f, "  written      %.0f bytes per DM\n", r->written_per_dm);
}

static int report_json(const struct bench_options *o, const struct store_result *r)
{
    FILE *f = fopen(o->json_path, "w");
    if (!f) return -1;
    fprintf(f,
            "{\"scenario\": \"store\", \"label\": \"%s\", \"seconds\": %.3f, \"answered\": %" PRIu64
            ", \"failed\": %" PRIu64 ", \"dms_per_s\": %.1f, \"latency_ms\": {\"p50\": %.3f,"
            " \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}, \"cpu\": {\"user_cores\": %.3f,"
            " \"sys_cores\": %.3f, \"other_cores\": %.3f}, \"written_bytes_per_dm\": %.0f}\n",
            o->label, r->seconds, r->answered, r->failed, r->dms_per_s, r->p50_ms, r->p99_ms,
            r->p999_ms, r->max_ms, r->user_cores, r->sys_cores, r->other_cores, r->written_per_dm);
    return fclose(f) == 0 ? 0 : -1;
}

/* Runs the warm-up and the measured window; fills r. */
static void measure(const struct bench_options *o, struct store_dm *dms, size_t count,
                    struct store_result *r)
{
    for (size_t i = 0; i < count; i++) dm_submit(&dms[i]);
    atomic_store(&bench_state.in_flight, count);
    sleep_s(o->warmup);

    struct bench_sample a, b;
    int64_t written = written_bytes();
    bench_sample_take(&a, 0);
    atomic_store(&bench_state.measuring, true);
    sleep_s(o->duration);
    atomic_store(&bench_state.measuring, false);
    bench_sample_take(&b, 0);
    written = written_bytes() - written;

    atomic_store(&bench_state.stopping, true);
    while (atomic_load(&bench_state.in_flight) > 0) sleep_s(0.01);

    struct cpu_window w;
    bench_cpu_window(&a, &b, &w);
    r->seconds = w.wall_s;
    r->answered = atomic_load(&bench_state.answered);
    r->failed = atomic_load(&bench_state.failed);
    r->dms_per_s = (double)r->answered / r->seconds;
    r->user_cores = w.gen_user_s / r->seconds;
    r->sys_cores = w.gen_sys_s / r->seconds;
    r->other_cores = w.other_cores;
    r->written_per_dm = r->answered ? (double)written / (double)r->answered : 0;
    const struct bench_hist *h = &bench_state.latency;
    r->p50_ms = (double)bench_hist_quantile(h, 0.5) / 1e6;
    r->p99_ms = (double)bench_hist_quantile(h, 0.99) / 1e6;
    r->p999_ms = (double)bench_hist_quantile(h, 0.999) / 1e6;
    r->max_ms = (double)bench_hist_quantile(h, 1.0) / 1e6;
}

int bench_store_run(const struct bench_options *o)
{
    const char *url = getenv("DATABASE_URL");
    const char *pool = getenv("DB_POOL_SIZE");
    if (!url || !*url) {
        fputs("bench store: DATABASE_URL names the database (chatctl init; chatctl bench-users)\n",
              stderr);
        return 2;
    }
    char err[256];
    if (store_open(&bench_state.store, url, pool ? atoi(pool) : STORE_BENCH_POOL_DEFAULT, err,
                   sizeof err) != 0) {
        fprintf(stderr, "bench store: %s\n", err);
        return 1;
    }
    pthread_mutex_init(&bench_state.hist_lock, NULL);
    bench_state.run_id = bench_now_ns() / 1000000;
    size_t count = (size_t)o->pairs * 2 * (size_t)o->window;
    struct store_dm *dms = dms_new(o, count);
    if (!dms) {
        fputs("bench store: out of memory\n", stderr);
        store_close(bench_state.store);
        return 1;
    }

    struct store_result r;
    measure(o, dms, count, &r);
    report_text(o, url, count, &r, stdout);
    int status = r.answered == 0 || r.failed > 0 ? 1 : 0;
    if (r.failed > 0) fputs("bench store: the store refused some DMs (users made?)\n", stderr);
    if (o->json_path && report_json(o, &r) != 0) status = 1;
    dms_free(dms, count);
    store_close(bench_state.store);
    pthread_mutex_destroy(&bench_state.hist_lock);
    return status;
}
