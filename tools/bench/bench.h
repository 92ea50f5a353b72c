/* The parts of the load generator (build/release/bench) that its files share:
 * options, the run shared by all threads, per-thread event loops with their
 * connections, and the statistics each thread keeps without locks until the
 * main thread merges them. See tools/bench/README.md for what it measures. */
#ifndef CHATD_TOOLS_BENCH_H
#define CHATD_TOOLS_BENCH_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------------------
 * Bounds: every buffer of the generator has one, named here.
 * ------------------------------------------------------------------------- */

#define BENCH_READ_BUFFER (256u * 1024)      /* one per thread, shared by its connections */
#define BENCH_MAX_SERVER_FRAME (192u * 1024) /* a server frame larger than this fails the conn */
#define BENCH_MAX_SIZE 60000                 /* --size: content bytes of one message */
#define BENCH_MIN_SIZE 24                    /* "t=<19 digits> " and one byte of padding */
#define BENCH_RATE_OUT (64u * 1024)          /* a dm-rate sender's output bound */
#define BENCH_MAX_COUNTERS 48                /* distinct error / failure names counted per thread */
#define BENCH_COUNTER_NAME 40
#define BENCH_HIST_SUB_BITS 7 /* 128 buckets per power of two: < 0.8 % error */
#define BENCH_HIST_BUCKETS (40 << BENCH_HIST_SUB_BITS) /* up to 2^40 ns, about 18 minutes */
#define BENCH_DRAIN_NS 2000000000LL /* after the run, wait this long for replies in flight */

/* ---------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------- */

enum bench_scenario {
    BENCH_IDLE,
    BENCH_STORM,
    BENCH_DM,
    BENCH_DM_RATE,
    BENCH_FANOUT_USER,
    BENCH_FANOUT_GROUP, /* a placeholder until groups exist: see scenario.c */
    BENCH_STORE,        /* no server: the store alone (store.c) */
};

struct bench_options {
    enum bench_scenario scenario;
    const char *scenario_name;
    const char *host; /* an IPv4 address in 127.0.0.0/8, nothing else */
    struct in_addr addr;
    int port;
    const char *secret;
    int64_t first_user;
    int threads;
    int source_ips;
    int connections; /* idle/storm: total; fanout-user: the recipient's connections */
    int users;       /* idle/storm: distinct users the connections cycle over */
    int concurrency; /* connects in progress at once, over all threads */
    int pairs;
    int window;
    int size;
    double rate;  /* messages/s over all senders; 0 = closed loop */
    bool one_way; /* dm: only the first user of each pair sends */
    double duration, warmup, hold;
    double connect_timeout;
    int tick_us;          /* dm-rate: the send timer's period */
    int late_us;          /* dm-rate: a send this much after its due time is late */
    double ping_interval; /* app-level ping on connections that do not send; 0: none */
    int server_pid;       /* 0: not given */
    const char *json_path;
    const char *label;
};

/* Parses argv into *o; 0, or 2 (the exit status) after printing why. */
int bench_options_parse(struct bench_options *o, int argc, char **argv);

/* The usage text, on stream f. */
void bench_usage(FILE *f);

/* ---------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------- */

/* A log-linear latency histogram in nanoseconds, HdrHistogram-style: exact
 * below 256 ns, then 128 buckets per power of two. Fixed size, no allocation,
 * so recording a sample is an array increment. */
struct bench_hist {
    uint64_t count;
    uint64_t max;
    double sum;
    uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_record(struct bench_hist *h, int64_t ns);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* The value (ns) at quantile q in [0, 1]: the upper edge of the bucket holding
 * it, or the exact maximum for q = 1; 0 for an empty histogram. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/* Counts by name (error codes, failure reasons) in a small fixed table; a
 * name that finds no free slot is counted under "other". */
struct bench_counter {
    char name[BENCH_COUNTER_NAME];
    uint64_t count;
};

struct bench_counters {
    int n;
    struct bench_counter items[BENCH_MAX_COUNTERS];
};

void bench_count(struct bench_counters *c, const char *name, size_t len, uint64_t n);
void bench_counters_merge(struct bench_counters *into, const struct bench_counters *from);

struct bench_stats {
    /* connect + authenticate (setup phase) */
    uint64_t connect_ok, connect_failed;
    int64_t first_start_ns, last_ready_ns; /* 0: none */
    struct bench_hist connect;
    struct bench_counters connect_failures;
    /* messages, counted when they happen inside the measured window */
    uint64_t sent, acked, delivered, duplicates, error_replies;
    uint64_t late, dropped, unanswered;
    int64_t max_lateness_ns;
    struct bench_hist ack, delivery;
    struct bench_counters errors; /* error replies by code, closes during the run */
    uint64_t bytes_in, bytes_out, frames_in, writes;
};

void bench_stats_merge(struct bench_stats *into, const struct bench_stats *from);

/* ---------------------------------------------------------------------------
 * Connections and threads
 * ------------------------------------------------------------------------- */

enum bench_conn_state {
    CONN_WAITING, /* not started yet */
    CONN_CONNECTING,
    CONN_UPGRADING, /* request sent, waiting for 101 */
    CONN_AUTHENTICATING,
    CONN_READY,
    CONN_DONE, /* failed or closed; fd is -1 */
};

struct bench_conn {
    int fd;
    uint8_t state;
    bool sender;
    bool dirty;      /* on the thread's flush list */
    bool want_write; /* EPOLLOUT registered */
    uint32_t index;  /* over the whole run: picks the source address */
    int64_t user_id;
    int64_t peer_id; /* whom a sender messages */
    uint32_t inflight;
    uint64_t seq;
    int64_t start_ns;
    uint32_t mask;
    /* Output: frames built back to back, sent from out_off with one send()
     * per loop iteration; bounded by out_cap, allocated at connect. */
    uint8_t *out;
    uint32_t out_off, out_len, out_cap;
    /* The start of a server frame that arrived incomplete, kept until the
     * rest comes (the read buffer itself is the thread's). */
    uint8_t *carry;
    uint32_t carry_len, carry_cap;
};

struct bench_run;

struct bench_thread {
    int id;
    pthread_t tid;
    struct bench_run *run;
    int epfd;
    int timerfd; /* dm-rate senders only; -1 otherwise */
    struct bench_conn *conns;
    uint32_t nconns;
    /* setup */
    uint32_t next_start, in_progress, concurrency;
    /* sending */
    uint32_t *senders; /* indexes into conns */
    uint32_t nsenders, rr_next;
    uint64_t pinged; /* app-level pings due so far (loop.c) */
    uint64_t inflight_total;
    double rate; /* this thread's share of --rate */
    int64_t rate_begin_ns;
    uint64_t rate_issued;
    bool sending; /* false once the run window is over */
    /* flush list */
    struct bench_conn **dirty;
    uint32_t ndirty;
    uint8_t *rbuf;
    uint8_t *scratch; /* one message's payload before it is masked into out */
    struct bench_stats stats;
};

/* What all threads share, read-only once they run (apart from the phase
 * times, written by the main thread before the barrier that publishes them). */
struct bench_run {
    struct bench_options opt;
    char run_id[13]; /* makes clientMessageIds unique across runs */
    /* authenticate frames' payloads, one per user, from first_user on */
    char **auth_payloads;
    uint32_t *auth_lengths;
    int nusers;
    char upgrade_request[512];
    size_t upgrade_len;
    char expected_accept[64];
    uint32_t total_senders;
    int64_t setup_deadline_ns;
    int64_t t_start, t_end; /* the measured window */
    pthread_barrier_t barrier;
    struct bench_thread *threads;
};

/* The worker thread's body (loop.c): connect its share, wait at the barrier,
 * run the scenario until t_end, drain, close. */
void *bench_thread_main(void *arg);

/* Scenarios (scenario.c). How many connections and users a run needs; then
 * assign spreads the connections over run->threads (their conns, senders
 * and flush lists are allocated here, freed by the caller): 0 or -1 when
 * out of memory. */
uint32_t bench_scenario_connections(const struct bench_options *o);
int bench_scenario_users(const struct bench_options *o);
int bench_scenario_assign(struct bench_run *run);
/* Hooks, called on the thread that owns the conn. */
void bench_scenario_on_ready(struct bench_thread *t, struct bench_conn *c);
void bench_scenario_run_begin(struct bench_thread *t, int64_t now);
void bench_scenario_on_reply(struct bench_thread *t, struct bench_conn *c, int64_t now);
void bench_scenario_on_writable(struct bench_thread *t, struct bench_conn *c, int64_t now);
void bench_scenario_on_tick(struct bench_thread *t, int64_t now);

/* Connection services for the scenarios (loop.c). */
bool bench_conn_send_dm(struct bench_thread *t, struct bench_conn *c, int64_t now);
void bench_conn_mark_dirty(struct bench_thread *t, struct bench_conn *c);
/* Puts t->timerfd in the thread's epoll set; 0 or -1 (errno). */
int bench_thread_add_timer(struct bench_thread *t);

/* Client side of the wire (wire.c): pure functions over bytes. */
enum bench_frame_result { FRAME_OK, FRAME_INCOMPLETE, FRAME_BAD };
struct bench_frame {
    uint8_t opcode;
    bool fin;
    const uint8_t *payload;
    size_t len;
    size_t total; /* header + payload */
};
enum bench_frame_result bench_frame_parse(const uint8_t *p, size_t n, struct bench_frame *f);
/* Writes a masked client frame for payload[0..len) into out (room for
 * len + 14 bytes); returns its size. */
size_t bench_frame_build(uint8_t *out, uint8_t opcode, const uint8_t *payload, size_t len,
                         uint32_t mask);
/* Writes v in decimal; returns the digits written (at most 20). */
size_t bench_u64_format(char *out, uint64_t v);
/* Reads the decimal digits at p[0..n); *end is past the last digit. */
uint64_t bench_u64_parse(const uint8_t *p, size_t n, size_t *end);

/* What a server text message is, found by scanning, not by parsing JSON. */
enum bench_reply_type {
    REPLY_OTHER,
    REPLY_AUTH_SUCCESS,
    REPLY_AUTH_ERROR,
    REPLY_NEW_MESSAGE,
    REPLY_ERROR,
    REPLY_SESSION_ENDED,
};
struct bench_reply {
    enum bench_reply_type type;
    bool has_request_id;
    bool duplicate;
    int64_t sent_ns;     /* from "content":"t=…"; 0 when absent */
    const uint8_t *code; /* error / auth_error "code"; NULL when absent */
    size_t code_len;
};
void bench_reply_classify(const uint8_t *p, size_t n, struct bench_reply *r);

/* ---------------------------------------------------------------------------
 * Time, process figures and the report (report.c)
 * ------------------------------------------------------------------------- */

int64_t bench_now_ns(void);

/* CPU time of this process (all threads) and, when pid > 0, of the server,
 * at one moment. */
struct bench_sample {
    int64_t wall_ns;
    double user_s, sys_s;
    double server_s;       /* < 0: unknown */
    double machine_busy_s; /* every CPU's non-idle time (/proc/stat); < 0: unknown */
};
void bench_sample_take(struct bench_sample *s, int pid);

/* What the CPU did between two samples: this process ("gen"), the server
 * (when its pid was given) and everything else on the machine. */
struct cpu_window {
    double wall_s;
    double gen_user_s, gen_sys_s, gen_cores; /* cores < 0: window too short */
    double server_s, server_cores;           /* < 0: unknown */
    double other_cores; /* the machine's busy time minus both: other load; < 0: unknown */
};
void bench_cpu_window(const struct bench_sample *a, const struct bench_sample *b,
                      struct cpu_window *w);

/* store.c: the "store" scenario, from start to report; the exit status. */
int bench_store_run(const struct bench_options *o);

/* VmRSS of process pid in bytes; -1 when unknown. */
int64_t bench_server_rss(int pid);

struct bench_result {
    struct bench_stats stats; /* all threads merged */
    uint32_t attempted;
    struct bench_sample setup_begin, setup_end, run_begin, run_end;
    int64_t rss_before, rss_connected, rss_end; /* -1: unknown */
};

/* The human table on f. */
void bench_report_text(const struct bench_run *run, const struct bench_result *r, FILE *f);
/* The same figures as one JSON object in path; 0, or -1 after perror. */
int bench_report_json(const struct bench_run *run, const struct bench_result *r, const char *path);

#endif
