/* The generator's statistics: latency histograms and named counters that a
 * thread updates without locks or allocation, merged by the main thread at
 * the end. */
#include "bench.h"

#include <string.h>

/* ---------------------------------------------------------------------------
 * Histograms
 * ------------------------------------------------------------------------- */

#define SUB (1u << BENCH_HIST_SUB_BITS)

/* Values below 2*SUB have a bucket each; above, a value with its top bit at
 * position b keeps its top BENCH_HIST_SUB_BITS + 1 bits: bucket s*SUB + m for
 * shift s = b - SUB_BITS and mantissa m in [SUB, 2*SUB). */
static size_t bucket_of(uint64_t v)
{
    if (v < 2 * SUB) return (size_t)v;
    int shift = 63 - __builtin_clzll(v) - BENCH_HIST_SUB_BITS;
    size_t i = (size_t)shift * SUB + (size_t)(v >> shift);
    return i < BENCH_HIST_BUCKETS ? i : BENCH_HIST_BUCKETS - 1;
}

/* The largest value that falls in bucket i. */
static uint64_t bucket_top(size_t i)
{
    if (i < 2 * SUB) return i;
    size_t shift = i / SUB - 1;
    uint64_t mantissa = i - shift * SUB;
    return ((mantissa + 1) << shift) - 1;
}

void bench_hist_record(struct bench_hist *h, int64_t ns)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 0;
    h->buckets[bucket_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max) h->max = v;
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
    if (!from->count) return;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max) into->max = from->max;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (!h->count) return 0;
    if (q >= 1.0) return h->max;
    /* the rank of the sample at q, 1-based, rounded up (nearest-rank) */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) rank++;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

/* ---------------------------------------------------------------------------
 * Named counters
 * ------------------------------------------------------------------------- */

static int counter_find(const struct bench_counters *c, const char *name, size_t len)
{
    for (int i = 0; i < c->n; i++)
        if (strncmp(c->items[i].name, name, len) == 0 && c->items[i].name[len] == '\0') return i;
    return -1;
}

/* O(n) over at most BENCH_MAX_COUNTERS names; only errors and failures are
 * counted here, never the messages of a healthy run. The last slot is
 * "other", for the names that come after the table is full. */
void bench_count(struct bench_counters *c, const char *name, size_t len, uint64_t n)
{
    if (len >= BENCH_COUNTER_NAME) len = BENCH_COUNTER_NAME - 1;
    int i = counter_find(c, name, len);
    if (i < 0 && c->n >= BENCH_MAX_COUNTERS - 1) {
        name = "other";
        len = 5;
        i = counter_find(c, name, len);
    }
    if (i < 0) {
        i = c->n++;
        memcpy(c->items[i].name, name, len);
        c->items[i].name[len] = '\0';
        c->items[i].count = 0;
    }
    c->items[i].count += n;
}

void bench_counters_merge(struct bench_counters *into, const struct bench_counters *from)
{
    for (int i = 0; i < from->n; i++)
        bench_count(into, from->items[i].name, strlen(from->items[i].name), from->items[i].count);
}

/* ---------------------------------------------------------------------------
 * Whole statistics
 * ------------------------------------------------------------------------- */

static int64_t min_nonzero(int64_t a, int64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

void bench_stats_merge(struct bench_stats *into, const struct bench_stats *from)
{
    into->connect_ok += from->connect_ok;
    into->connect_failed += from->connect_failed;
    into->first_start_ns = min_nonzero(into->first_start_ns, from->first_start_ns);
    if (from->last_ready_ns > into->last_ready_ns) into->last_ready_ns = from->last_ready_ns;
    bench_hist_merge(&into->connect, &from->connect);
    bench_counters_merge(&into->connect_failures, &from->connect_failures);
    into->sent += from->sent;
    into->acked += from->acked;
    into->delivered += from->delivered;
    into->duplicates += from->duplicates;
    into->error_replies += from->error_replies;
    into->late += from->late;
    into->dropped += from->dropped;
    into->unanswered += from->unanswered;
    if (from->max_lateness_ns > into->max_lateness_ns)
        into->max_lateness_ns = from->max_lateness_ns;
    bench_hist_merge(&into->ack, &from->ack);
    bench_hist_merge(&into->delivery, &from->delivery);
    bench_counters_merge(&into->errors, &from->errors);
    into->bytes_in += from->bytes_in;
    into->bytes_out += from->bytes_out;
    into->frames_in += from->frames_in;
    into->writes += from->writes;
}
