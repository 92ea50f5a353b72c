/* The scenarios: which connections a run opens (users, peers, threads), and
 * when their senders send: closed loop (a window of messages in flight, the
 * next one sent when a reply comes) or open loop (a timer sends at --rate
 * whatever the replies do). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------
 * Who connects
 *
 *   idle, storm   connection i is user first + i % users, sends nothing
 *   dm, dm-rate   pair k is users first+2k and first+2k+1 (they follow each
 *                 other: chatctl bench-users); both send to the other unless
 *                 --one-way; a pair stays on one thread
 *   fanout-user   connection 0 is user first and sends to user first+1,
 *                 who holds the --connections other connections
 *   fanout-group  not yet: groups do not exist in chatd. When they do, it
 *                 goes here: users first..first+M-1 in groups of
 *                 --group-size (50) whose owner creates the group during
 *                 setup (create_group with memberIds; every member must
 *                 follow the owner), one sender per group, and
 *                 new_group_message counted as a delivery on every member
 *                 connection (a REPLY_NEW_GROUP_MESSAGE in wire.c; the
 *                 content carries the send time the same way).
 * ------------------------------------------------------------------------- */

struct plan {
    uint32_t thread;
    int64_t user, peer;
    bool sender;
};

uint32_t bench_scenario_connections(const struct bench_options *o)
{
    switch (o->scenario) {
    case BENCH_IDLE:
    case BENCH_STORM:
        return (uint32_t)o->connections;
    case BENCH_DM:
    case BENCH_DM_RATE:
        return 2 * (uint32_t)o->pairs;
    case BENCH_FANOUT_USER:
        return (uint32_t)o->connections + 1;
    case BENCH_FANOUT_GROUP:
    case BENCH_STORE: /* runs apart: store.c */
        break;
    }
    return 0;
}

int bench_scenario_users(const struct bench_options *o)
{
    switch (o->scenario) {
    case BENCH_IDLE:
    case BENCH_STORM:
        return o->users < o->connections ? o->users : o->connections;
    case BENCH_DM:
    case BENCH_DM_RATE:
        return 2 * o->pairs;
    case BENCH_FANOUT_USER:
        return 2;
    case BENCH_FANOUT_GROUP:
    case BENCH_STORE: /* runs apart: store.c */
        break;
    }
    return 0;
}

static void plan_conn(const struct bench_options *o, uint32_t i, struct plan *p)
{
    uint32_t threads = (uint32_t)o->threads;
    memset(p, 0, sizeof *p);
    switch (o->scenario) {
    case BENCH_IDLE:
    case BENCH_STORM:
        p->thread = i % threads;
        p->user = o->first_user + i % (uint32_t)bench_scenario_users(o);
        break;
    case BENCH_DM:
    case BENCH_DM_RATE:
        p->thread = (i / 2) % threads;
        p->user = o->first_user + i;
        p->peer = o->first_user + (i ^ 1);
        p->sender = !(o->one_way && (i & 1));
        break;
    case BENCH_FANOUT_USER:
        p->thread = i == 0 ? 0 : (i - 1) % threads;
        p->user = o->first_user + (i != 0);
        p->peer = i == 0 ? o->first_user + 1 : 0;
        p->sender = i == 0;
        break;
    case BENCH_FANOUT_GROUP:
    case BENCH_STORE: /* runs apart: store.c */
        break;
    }
}

/* Output bound of a connection: the upgrade request and the authenticate
 * frame for everyone, plus a window of messages (closed loop) or
 * BENCH_RATE_OUT (open loop) for a sender. */
static uint32_t out_capacity(const struct bench_options *o, bool sender)
{
    uint32_t base = 2048;
    uint32_t message = (uint32_t)o->size + 256 + 14;
    if (!sender) return base;
    if (o->rate > 0) return base + (BENCH_RATE_OUT > 8 * message ? BENCH_RATE_OUT : 8 * message);
    return base + (uint32_t)o->window * message;
}

int bench_scenario_assign(struct bench_run *run)
{
    const struct bench_options *o = &run->opt;
    uint32_t total = bench_scenario_connections(o);
    struct plan p;
    for (uint32_t i = 0; i < total; i++) {
        plan_conn(o, i, &p);
        struct bench_thread *t = &run->threads[p.thread];
        t->nconns++;
        t->nsenders += p.sender;
    }
    for (int k = 0; k < o->threads; k++) {
        struct bench_thread *t = &run->threads[k];
        t->conns = calloc(t->nconns ? t->nconns : 1, sizeof *t->conns);
        t->senders = calloc(t->nsenders ? t->nsenders : 1, sizeof *t->senders);
        t->dirty = calloc(t->nconns ? t->nconns : 1, sizeof *t->dirty);
        if (!t->conns || !t->senders || !t->dirty) return -1;
        run->total_senders += t->nsenders;
        t->nconns = t->nsenders = 0;
    }
    for (uint32_t i = 0; i < total; i++) {
        plan_conn(o, i, &p);
        struct bench_thread *t = &run->threads[p.thread];
        struct bench_conn *c = &t->conns[t->nconns];
        c->fd = -1;
        c->index = i;
        c->user_id = p.user;
        c->peer_id = p.peer;
        c->sender = p.sender;
        c->mask = (uint32_t)random() * 2654435761u ^ (uint32_t)random();
        c->out_cap = out_capacity(o, p.sender);
        if (p.sender) t->senders[t->nsenders++] = t->nconns;
        t->nconns++;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * When senders send
 * ------------------------------------------------------------------------- */

void bench_scenario_on_ready(struct bench_thread *t, struct bench_conn *c)
{
    /* Nothing yet: every scenario starts sending together, once all threads
     * are connected (bench_scenario_run_begin). */
    (void)t;
    (void)c;
}

/* Closed loop: keep --window messages in flight. */
static void top_up(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    uint32_t window = (uint32_t)t->run->opt.window;
    while (c->inflight < window)
        if (!bench_conn_send_dm(t, c, now)) break;
}

static int start_timer(struct bench_thread *t)
{
    const struct bench_options *o = &t->run->opt;
    t->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->timerfd < 0) return -1;
    long tick_ns = (long)o->tick_us * 1000;
    struct itimerspec its = {.it_interval = {tick_ns / 1000000000, tick_ns % 1000000000},
                             .it_value = {tick_ns / 1000000000, tick_ns % 1000000000}};
    if (timerfd_settime(t->timerfd, 0, &its, NULL) != 0) return -1;
    return bench_thread_add_timer(t);
}

void bench_scenario_run_begin(struct bench_thread *t, int64_t now)
{
    const struct bench_run *run = t->run;
    t->sending = true;
    if (!t->nsenders) return;
    if (run->opt.rate > 0) {
        /* this thread's share of the rate, by its share of the senders */
        t->rate = run->opt.rate * t->nsenders / run->total_senders;
        t->rate_begin_ns = now;
        if (start_timer(t) != 0) {
            perror("bench: timerfd");
            t->sending = false;
        }
        return;
    }
    for (uint32_t i = 0; i < t->nsenders; i++) top_up(t, &t->conns[t->senders[i]], now);
}

void bench_scenario_on_reply(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    if (t->sending && c->sender && t->run->opt.rate <= 0) top_up(t, c, now);
}

void bench_scenario_on_writable(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    bench_scenario_on_reply(t, c, now);
}

/* The next ready sender, round robin; NULL when none is. */
static struct bench_conn *next_sender(struct bench_thread *t)
{
    for (uint32_t tries = 0; tries < t->nsenders; tries++) {
        struct bench_conn *c = &t->conns[t->senders[t->rr_next]];
        t->rr_next = (t->rr_next + 1) % t->nsenders;
        if (c->state == CONN_READY) return c;
    }
    return NULL;
}

/* Open loop: message k of this thread is due at rate_begin + (k+1)/rate.
 * Every tick sends what has come due since the last one, stamped with the
 * time it actually goes out; one that goes out more than --late-us after
 * its due time is late, one that finds no room in its connection's output
 * (the server is not reading) is dropped. */
void bench_scenario_on_tick(struct bench_thread *t, int64_t now)
{
    const struct bench_run *run = t->run;
    double interval_ns = 1e9 / t->rate;
    uint64_t due = (uint64_t)((double)(now - t->rate_begin_ns) / interval_ns);
    int64_t late_ns = (int64_t)run->opt.late_us * 1000;
    for (; t->rate_issued < due; t->rate_issued++) {
        int64_t due_ns = t->rate_begin_ns + (int64_t)((double)(t->rate_issued + 1) * interval_ns);
        struct bench_conn *c = next_sender(t);
        bool sent = c && bench_conn_send_dm(t, c, now);
        if (due_ns < run->t_start || due_ns >= run->t_end) continue;
        if (!sent) {
            t->stats.dropped++;
            continue;
        }
        int64_t lateness = now - due_ns;
        if (lateness > late_ns) t->stats.late++;
        if (lateness > t->stats.max_lateness_ns) t->stats.max_lateness_ns = lateness;
    }
}
