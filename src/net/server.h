/* The process: configuration, the store, the registry and the event loops.
 * One struct server lives for the whole run; loops read it, and only its
 * atomic counters are written after start-up. */
#ifndef CHATD_NET_SERVER_H
#define CHATD_NET_SERVER_H

#include "auth/jwt.h"
#include "util/config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct loop;
struct store;
struct registry;
struct ip_limit;
struct rate_limit;
struct frame;

/* The store-latency histogram: SERVER_LATENCY_BUCKETS - 1 upper bounds in
 * seconds, and a last bucket for everything above (+Inf). */
#define SERVER_LATENCY_BUCKETS 11
extern const double server_latency_bounds[SERVER_LATENCY_BUCKETS - 1];

struct server_stats {
    atomic_long connections;     /* open WebSocket connections */
    atomic_long messages_stored; /* acknowledged sends */
    atomic_long deliveries;      /* frames handed to sockets for other connections */
    atomic_long auth_failures;
    /* requests' time from submission to the store until their answer runs
     * on their loop: buckets (not cumulative), count and sum */
    atomic_long store_latency[SERVER_LATENCY_BUCKETS];
    atomic_long store_latency_count;
    atomic_long store_latency_sum_us;
};

/* Counts one store round trip of elapsed_us microseconds. */
void server_stats_store_latency(struct server_stats *stats, int64_t elapsed_us);

struct server {
    struct config config;
    struct jwt_verifier jwt;
    struct store *store;
    struct registry *registry;
    struct ip_limit *ip_limit;
    struct rate_limit *rate_limit;
    struct loop **loops;
    int loop_count;
    int port;           /* the bound port (PORT=0 asks for any) */
    int64_t started_ms; /* monotonic */
    atomic_bool shutting_down;
    struct server_stats stats;
    uv_loop_t main_loop; /* signals; the workers have their own loops */
};

/* Loads nothing: the caller has filled config. Opens the store, binds the
 * listeners and starts the worker threads. 0 or a CHAT_E_* code (logged). */
int server_start(struct server *s);

/* Runs until SIGTERM/SIGINT, then drains: stops accepting, closes every
 * connection with 1001 once its pending output is written, stops the loops,
 * flushes the store. Returns the process exit status. */
int server_run(struct server *s);

/* Frees everything server_start made, after server_run (or a failed start). */
void server_free(struct server *s);

/* Hands the frame to every connection of user_id on every loop, except the
 * connection exclude_conn_id (0: none). Takes no ownership: each target takes
 * its own reference. Call from a loop thread (from names it). */
void server_deliver(struct server *s, struct loop *from, int64_t user_id, struct frame *f,
                    uint64_t exclude_conn_id);

#endif
