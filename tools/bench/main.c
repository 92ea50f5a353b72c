/* bench: the load generator of chatd. This file reads the options, mints the
 * tokens, starts one epoll thread per --threads, and times the phases of a
 * run (setup, warm-up, measured window, drain) from the main thread, which
 * also samples CPU and the server's RSS at their edges. */
#include "bench.h"

#include "auth/jwt.h"
#include "crypto/random.h"
#include "util/config.h"
#include "ws/handshake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <nettle/base64.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WATCHDOG_SLACK_S 30 /* beyond the planned end: something hangs */
#define FD_RESERVE 64       /* descriptors kept for everything but connections */

/* ---------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum bench_scenario scenario;
} scenarios[] = {
    {"idle", BENCH_IDLE},
    {"storm", BENCH_STORM},
    {"dm", BENCH_DM},
    {"dm-rate", BENCH_DM_RATE},
    {"fanout-user", BENCH_FANOUT_USER},
    {"fanout-group", BENCH_FANOUT_GROUP},
    {"store", BENCH_STORE},
};

static const char usage_text[] =
    "usage: bench SCENARIO [OPTIONS]\n"
    "\n"
    "Load generator for chatd (tools/bench/README.md). Scenarios:\n"
    "  idle          open --connections, authenticate all, hold them --hold s;\n"
    "                conn/s and server RSS per connection (--server-pid)\n"
    "  storm         connect + authenticate --connections with --concurrency in\n"
    "                progress, as fast as possible; conn/s and failures\n"
    "  dm            --pairs pairs message each other, --window in flight per\n"
    "                sender (closed loop); msgs/s, ack and delivery latency\n"
    "  dm-rate       the same pairs at --rate msg/s in total (open loop)\n"
    "  fanout-user   one sender, one recipient user with --connections\n"
    "                connections (raise MAX_CONNECTIONS_PER_USER); deliveries/s\n"
    "  fanout-group  not available until chatd has groups\n"
    "  store         chatd's store alone, no server: --pairs pairs' DMs straight\n"
    "                to DATABASE_URL (DB_POOL_SIZE), --window in flight per\n"
    "                sender; DMs/s, CPU per DM, bytes written per DM\n"
    "\n"
    "Options (defaults in brackets):\n"
    "  --host ADDR          server address, in 127.0.0.0/8 only [127.0.0.1]\n"
    "  --port N             [3001]\n"
    "  --secret S           JWT_SECRET to mint tokens with [$JWT_SECRET]\n"
    "  --first-user ID      users are ID, ID+1, ... (chatctl bench-users) [1]\n"
    "  --threads N          generator threads, one epoll loop each [1]\n"
    "  --source-ips N       bind round-robin to 127.0.0.1..127.0.0.N [16]\n"
    "  --connections N      idle/storm: total; fanout-user: the recipient's [1000/100]\n"
    "  --users N            idle/storm: distinct users the connections cycle over\n"
    "                       [= --connections]\n"
    "  --concurrency N      connects in progress at once [256]\n"
    "  --pairs N            dm, dm-rate [500]\n"
    "  --one-way            dm, dm-rate: only the first user of a pair sends\n"
    "  --window N           closed loop: messages in flight per sender [4]\n"
    "  --size N             content bytes per message, send time included [100]\n"
    "  --rate R             dm-rate (and fanout-user): msg/s over all senders\n"
    "                       [2000; fanout-user: 0 = closed loop]\n"
    "  --duration S         measured seconds [10]\n"
    "  --warmup S           seconds before measuring [2; idle/storm 0]\n"
    "  --hold S             idle: seconds to hold the connections [5]\n"
    "  --connect-timeout S  bound on the whole setup phase [60]\n"
    "  --tick-us N          dm-rate: send timer period [200]\n"
    "  --late-us N          dm-rate: a send this late is counted late [1000]\n"
    "  --ping-interval S    {\"type\":\"ping\"} this often on connections that do not\n"
    "                       send, as clients must (protocol 3); 0: never [30]\n"
    "  --server-pid P       report the server's CPU and RSS from /proc/P\n"
    "  --json FILE          also write the results as JSON\n"
    "  --label NAME         name of the run in the output [the scenario]\n"
    "\n"
    "Exit status: 0 when something succeeded (connections for idle/storm,\n"
    "replies for the others), 1 when nothing did, 2 for a usage error, 3 when\n"
    "the global deadline passed.\n";

void bench_usage(FILE *f)
{
    fputs(usage_text, f);
}

/* Prints "bench: <what><arg> (bench --help)"; returns 2, the exit status. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "bench: %s%s (bench --help)\n", what, arg ? arg : "");
    return 2;
}

static bool parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return false;
    *out = (int)v;
    return true;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) return false;
    *out = v;
    return true;
}

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_SECRET,
    OPT_FIRST_USER,
    OPT_THREADS,
    OPT_SOURCE_IPS,
    OPT_CONNECTIONS,
    OPT_USERS,
    OPT_CONCURRENCY,
    OPT_PAIRS,
    OPT_ONE_WAY,
    OPT_WINDOW,
    OPT_SIZE,
    OPT_RATE,
    OPT_DURATION,
    OPT_WARMUP,
    OPT_HOLD,
    OPT_CONNECT_TIMEOUT,
    OPT_TICK_US,
    OPT_LATE_US,
    OPT_PING_INTERVAL,
    OPT_SERVER_PID,
    OPT_JSON,
    OPT_LABEL,
    OPT_HELP
};

static const struct option long_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"first-user", required_argument, NULL, OPT_FIRST_USER},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"source-ips", required_argument, NULL, OPT_SOURCE_IPS},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"users", required_argument, NULL, OPT_USERS},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"pairs", required_argument, NULL, OPT_PAIRS},
    {"one-way", no_argument, NULL, OPT_ONE_WAY},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"size", required_argument, NULL, OPT_SIZE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"tick-us", required_argument, NULL, OPT_TICK_US},
    {"late-us", required_argument, NULL, OPT_LATE_US},
    {"ping-interval", required_argument, NULL, OPT_PING_INTERVAL},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"json", required_argument, NULL, OPT_JSON},
    {"label", required_argument, NULL, OPT_LABEL},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* One option with its value; false when the value is out of range. */
static bool option_set(struct bench_options *o, int opt, const char *v)
{
    int first_user;
    switch (opt) {
    case OPT_HOST:
        o->host = v;
        return true;
    case OPT_PORT:
        return parse_int(v, 1, 65535, &o->port);
    case OPT_SECRET:
        o->secret = v;
        return true;
    case OPT_FIRST_USER:
        if (!parse_int(v, 1, 2000000000, &first_user)) return false;
        o->first_user = first_user;
        return true;
    case OPT_THREADS:
        return parse_int(v, 1, 64, &o->threads);
    case OPT_SOURCE_IPS:
        return parse_int(v, 1, 65000, &o->source_ips);
    case OPT_CONNECTIONS:
        return parse_int(v, 1, 10000000, &o->connections);
    case OPT_USERS:
        return parse_int(v, 1, 10000000, &o->users);
    case OPT_CONCURRENCY:
        return parse_int(v, 1, 10000000, &o->concurrency);
    case OPT_PAIRS:
        return parse_int(v, 1, 5000000, &o->pairs);
    case OPT_WINDOW:
        return parse_int(v, 1, 100000, &o->window);
    case OPT_SIZE:
        return parse_int(v, BENCH_MIN_SIZE, BENCH_MAX_SIZE, &o->size);
    case OPT_RATE:
        return parse_double(v, 0, 1e8, &o->rate);
    case OPT_DURATION:
        return parse_double(v, 0, 86400, &o->duration);
    case OPT_WARMUP:
        return parse_double(v, 0, 3600, &o->warmup);
    case OPT_HOLD:
        return parse_double(v, 0, 86400, &o->hold);
    case OPT_CONNECT_TIMEOUT:
        return parse_double(v, 0.1, 3600, &o->connect_timeout);
    case OPT_TICK_US:
        return parse_int(v, 10, 1000000, &o->tick_us);
    case OPT_LATE_US:
        return parse_int(v, 0, 100000000, &o->late_us);
    case OPT_PING_INTERVAL:
        return parse_double(v, 0, 86400, &o->ping_interval);
    case OPT_SERVER_PID:
        return parse_int(v, 1, 1 << 30, &o->server_pid);
    case OPT_JSON:
        o->json_path = v;
        return true;
    case OPT_LABEL:
        o->label = v;
        return true;
    }
    return false;
}

/* Defaults that depend on the scenario, for the options not given (-1). */
static void scenario_defaults(struct bench_options *o)
{
    bool sends = o->scenario == BENCH_DM || o->scenario == BENCH_DM_RATE ||
                 o->scenario == BENCH_FANOUT_USER || o->scenario == BENCH_STORE;
    if (o->connections < 0) o->connections = o->scenario == BENCH_FANOUT_USER ? 100 : 1000;
    if (o->users < 0) o->users = o->connections;
    if (o->rate < 0) o->rate = o->scenario == BENCH_DM_RATE ? 2000 : 0;
    if (o->warmup < 0) o->warmup = sends ? 2 : 0;
    if (o->hold < 0) o->hold = o->scenario == BENCH_IDLE ? 5 : 0;
    if (o->scenario == BENCH_DM && o->rate > 0)
        o->rate = 0; /* dm is the closed loop by definition: dm-rate is the open one */
    if (!o->label) o->label = o->scenario_name;
}

int bench_options_parse(struct bench_options *o, int argc, char **argv)
{
    *o = (struct bench_options){.host = "127.0.0.1",
                                .port = 3001,
                                .first_user = 1,
                                .threads = 1,
                                .source_ips = 16,
                                .connections = -1,
                                .users = -1,
                                .concurrency = 256,
                                .pairs = 500,
                                .window = 4,
                                .size = 100,
                                .rate = -1,
                                .duration = 10,
                                .warmup = -1,
                                .hold = -1,
                                .connect_timeout = 60,
                                .tick_us = 200,
                                .late_us = 1000,
                                .ping_interval = 30};
    o->secret = getenv("JWT_SECRET");
    int opt, index = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", long_options, &index)) != -1) {
        if (opt == 'h' || opt == OPT_HELP) {
            bench_usage(stdout);
            exit(0);
        }
        if (opt == OPT_ONE_WAY) {
            o->one_way = true;
            continue;
        }
        if (opt == '?' || opt == ':')
            return usage_error("unknown option or missing value: ", argv[optind - 1]);
        if (!option_set(o, opt, optarg))
            return usage_error("bad value for --", long_options[index].name);
    }
    if (optind != argc - 1) return usage_error("give exactly one SCENARIO", NULL);
    o->scenario_name = argv[optind];
    size_t i = 0;
    for (; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(scenarios[i].name, o->scenario_name) == 0) break;
    if (i == sizeof scenarios / sizeof scenarios[0])
        return usage_error("unknown scenario ", o->scenario_name);
    o->scenario = scenarios[i].scenario;
    scenario_defaults(o);

    /* Only the loopback network may be loaded: this tool is a flood. */
    if (inet_pton(AF_INET, o->host, &o->addr) != 1)
        return usage_error("--host must be an IPv4 address, not ", o->host);
    if ((ntohl(o->addr.s_addr) >> 24) != 127)
        return usage_error("--host must be in 127.0.0.0/8, not ", o->host);
    if (o->scenario != BENCH_STORE && (!o->secret || strlen(o->secret) < CONFIG_JWT_SECRET_MIN))
        return usage_error("--secret (or JWT_SECRET) must be set, at least 32 bytes", NULL);
    if (o->scenario == BENCH_DM_RATE && o->rate <= 0)
        return usage_error("dm-rate needs --rate > 0", NULL);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Preparing a run
 * ------------------------------------------------------------------------- */

/* An authenticate payload per user, each with its own token: userId as a
 * string, a random jti, exp an hour past the planned end. */
static int mint_tokens(struct bench_run *run, double planned_s)
{
    const struct bench_options *o = &run->opt;
    int n = bench_scenario_users(o);
    run->nusers = n;
    run->auth_payloads = calloc((size_t)n, sizeof *run->auth_payloads);
    run->auth_lengths = calloc((size_t)n, sizeof *run->auth_lengths);
    if (!run->auth_payloads || !run->auth_lengths) return -1;
    long long now_s = (long long)time(NULL);
    long long exp = now_s + 3600 + (long long)planned_s;
    for (int i = 0; i < n; i++) {
        char uuid[37], payload[256];
        random_uuid(uuid);
        snprintf(payload, sizeof payload,
                 "{\"userId\":\"%lld\",\"jti\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
                 (long long)(o->first_user + i), uuid, now_s, exp);
        char *token = NULL;
        if (jwt_sign_hs256((const uint8_t *)o->secret, strlen(o->secret), payload, &token) != 0)
            return -1;
        size_t len = strlen(token) + 40;
        run->auth_payloads[i] = malloc(len);
        if (!run->auth_payloads[i]) {
            free(token);
            return -1;
        }
        int w = snprintf(run->auth_payloads[i], len, "{\"type\":\"authenticate\",\"token\":\"%s\"}",
                         token);
        free(token);
        if (w < 0 || (size_t)w >= len || w > 1024) return -1; /* see out_capacity() */
        run->auth_lengths[i] = (uint32_t)w;
    }
    return 0;
}

/* The upgrade request every connection sends, with one random key, and the
 * Sec-WebSocket-Accept line that must come back. */
static int prepare_upgrade(struct bench_run *run)
{
    uint8_t raw[16];
    if (random_bytes(raw, sizeof raw) != 0) return -1;
    char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1];
    base64_encode_raw(key, sizeof raw, raw); /* 24 characters, padded */
    key[WS_KEY_LEN] = '\0';
    ws_handshake_accept(key, WS_KEY_LEN, accept);
    snprintf(run->expected_accept, sizeof run->expected_accept, "Sec-WebSocket-Accept: %s", accept);
    int n = snprintf(run->upgrade_request, sizeof run->upgrade_request,
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     run->opt.host, run->opt.port, key);
    run->upgrade_len = (size_t)n;
    uint8_t id[6];
    if (random_bytes(id, sizeof id) != 0) return -1;
    for (int i = 0; i < 6; i++) snprintf(run->run_id + 2 * i, 3, "%02x", id[i]);
    return 0;
}

/* Raises the soft descriptor limit to the hard one and checks that the
 * connections fit. */
static int check_descriptors(uint32_t connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)connections + FD_RESERVE > rl.rlim_cur) {
        fprintf(stderr,
                "bench: %u connections need more than the %llu descriptors a process may open;"
                " split the run over several bench processes\n",
                connections, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

static void watchdog(int sig)
{
    (void)sig;
    static const char text[] = "bench: the global deadline passed; giving up\n";
    ssize_t ignored = write(2, text, sizeof text - 1);
    (void)ignored;
    _exit(3);
}

static void sleep_until(int64_t t_ns)
{
    int64_t now;
    while ((now = bench_now_ns()) < t_ns) {
        int64_t d = t_ns - now;
        struct timespec ts = {(time_t)(d / 1000000000), (long)(d % 1000000000)};
        nanosleep(&ts, NULL);
    }
}

static int64_t seconds_ns(double s)
{
    return (int64_t)llround(s * 1e9);
}

static bool succeeded(const struct bench_options *o, const struct bench_stats *s)
{
    switch (o->scenario) {
    case BENCH_IDLE:
    case BENCH_STORM:
        return s->connect_ok > 0;
    case BENCH_DM:
    case BENCH_DM_RATE:
        return s->acked > 0;
    case BENCH_FANOUT_USER:
        return s->delivered > 0;
    case BENCH_FANOUT_GROUP:
    case BENCH_STORE: /* runs apart: store.c */
        break;
    }
    return false;
}

/* ---------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------- */

static void free_run(struct bench_run *run)
{
    for (int i = 0; run->threads && i < run->opt.threads; i++) {
        struct bench_thread *t = &run->threads[i];
        if (t->epfd >= 0) close(t->epfd);
        free(t->conns);
        free(t->senders);
        free(t->dirty);
        free(t->rbuf);
        free(t->scratch);
    }
    free(run->threads);
    for (int i = 0; run->auth_payloads && i < run->nusers; i++) free(run->auth_payloads[i]);
    free(run->auth_payloads);
    free(run->auth_lengths);
}

static int init_threads(struct bench_run *run)
{
    const struct bench_options *o = &run->opt;
    run->threads = calloc((size_t)o->threads, sizeof *run->threads);
    if (!run->threads) return -1;
    for (int i = 0; i < o->threads; i++) {
        struct bench_thread *t = &run->threads[i];
        t->id = i;
        t->run = run;
        t->epfd = -1;
        t->timerfd = -1;
    }
    if (bench_scenario_assign(run) != 0) return -1;
    int concurrency = (o->concurrency + o->threads - 1) / o->threads;
    for (int i = 0; i < o->threads; i++) {
        struct bench_thread *t = &run->threads[i];
        t->concurrency = (uint32_t)concurrency;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->rbuf = malloc(BENCH_READ_BUFFER);
        t->scratch = malloc((size_t)BENCH_MAX_SIZE + 512);
        if (t->epfd < 0 || !t->rbuf || !t->scratch) return -1;
    }
    return 0;
}

/* Runs the threads through the phases; fills r. */
static int run_phases(struct bench_run *run, struct bench_result *r)
{
    const struct bench_options *o = &run->opt;
    int threads = o->threads;
    if (pthread_barrier_init(&run->barrier, NULL, (unsigned)threads + 1) != 0) return -1;
    r->rss_before = bench_server_rss(o->server_pid);
    bench_sample_take(&r->setup_begin, o->server_pid);
    run->setup_deadline_ns = r->setup_begin.wall_ns + seconds_ns(o->connect_timeout);
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&run->threads[started].tid, NULL, bench_thread_main,
                           &run->threads[started]) != 0)
            break;
    if (started < threads) {
        /* cannot unwind threads parked at the barrier: stop here */
        fprintf(stderr, "bench: cannot start thread %d\n", started);
        exit(1);
    }

    pthread_barrier_wait(&run->barrier); /* all connected */
    bench_sample_take(&r->setup_end, o->server_pid);
    r->rss_connected = bench_server_rss(o->server_pid);
    int64_t now = bench_now_ns();
    bool sends = o->scenario == BENCH_DM || o->scenario == BENCH_DM_RATE ||
                 o->scenario == BENCH_FANOUT_USER || o->scenario == BENCH_STORE;
    uint64_t ready = 0; /* the threads wait at the barrier: their counts hold still */
    for (int i = 0; i < threads; i++) ready += run->threads[i].stats.connect_ok;
    run->t_start = ready ? now + seconds_ns(o->warmup) : now;
    run->t_end = ready ? run->t_start + seconds_ns(sends ? o->duration : o->hold) : now;
    pthread_barrier_wait(&run->barrier); /* publishes t_start, t_end */

    sleep_until(run->t_start);
    bench_sample_take(&r->run_begin, o->server_pid);
    sleep_until(run->t_end);
    bench_sample_take(&r->run_end, o->server_pid);
    pthread_barrier_wait(&run->barrier); /* drained; connections still open */
    r->rss_end = bench_server_rss(o->server_pid);
    pthread_barrier_wait(&run->barrier);
    for (int i = 0; i < threads; i++) pthread_join(run->threads[i].tid, NULL);
    pthread_barrier_destroy(&run->barrier);
    for (int i = 0; i < threads; i++) bench_stats_merge(&r->stats, &run->threads[i].stats);
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench_run run; /* large: histograms */
    int status = bench_options_parse(&run.opt, argc, argv);
    if (status) return status;
    const struct bench_options *o = &run.opt;
    if (o->scenario == BENCH_STORE) return bench_store_run(o);
    if (o->scenario == BENCH_FANOUT_GROUP) {
        fputs("bench: fanout-group waits for groups in chatd (see tools/bench/scenario.c)\n",
              stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)bench_now_ns());
    uint32_t connections = bench_scenario_connections(o);
    if (check_descriptors(connections) != 0) return 2;

    double planned_s = o->connect_timeout + o->warmup + o->duration + o->hold;
    if (prepare_upgrade(&run) != 0 || mint_tokens(&run, planned_s) != 0 ||
        init_threads(&run) != 0) {
        fputs("bench: out of memory or no randomness while preparing the run\n", stderr);
        free_run(&run);
        return 1;
    }
    signal(SIGALRM, watchdog);
    alarm((unsigned)ceil(planned_s + BENCH_DRAIN_NS / 1e9 + WATCHDOG_SLACK_S));

    static struct bench_result result;
    result.attempted = connections;
    run_phases(&run, &result);
    alarm(0);

    bench_report_text(&run, &result, stdout);
    if (o->json_path && bench_report_json(&run, &result, o->json_path) != 0) status = 1;
    if (!succeeded(o, &result.stats)) {
        fputs("bench: nothing succeeded\n", stderr);
        status = 1;
    }
    free_run(&run);
    return status;
}
