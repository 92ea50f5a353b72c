/* Start-up and shutdown of the whole server: the store, the shared tables,
 * the worker loops and the signal handling on the main thread. */
#include "net/server.h"

#include "chat/rate_limit.h"
#include "net/ip_limit.h"
#include "net/loop.h"
#include "net/registry.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUTDOWN_POLL_MS 10

static int resolve_listen_address(const struct config *cfg, int port, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, cfg->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    log_error("HOST=%s is not an IPv4 or IPv6 address", cfg->host);
    return CHAT_E_CONFIG;
}

/* The port the first loop bound (PORT=0 lets the kernel choose). */
static int bound_port(struct loop *loop)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (uv_tcp_getsockname(&loop->listener, (struct sockaddr *)&addr, &len) != 0) return -1;
    if (addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* SO_REUSEPORT lets every loop listen on the one port, but it would also let
 * a second chatd share that port silently and take half the connections:
 * refuse to start when anything already listens there. */
static int check_port_free(const struct sockaddr_storage *addr, int port)
{
    if (port == 0) return 0;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return CHAT_E_IO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int rc = bind(fd, (const struct sockaddr *)addr, len);
    close(fd);
    if (rc == 0) return 0;
    log_error("cannot listen on port %d: it is in use (another chatd?)", port);
    return CHAT_E_IO;
}

static int server_start_loops(struct server *s)
{
    struct sockaddr_storage addr;
    int err = resolve_listen_address(&s->config, s->config.port, &addr);
    if (!err) err = check_port_free(&addr, s->config.port);
    if (err) return err;
    s->loops = calloc((size_t)s->loop_count, sizeof *s->loops);
    if (!s->loops) return CHAT_E_NOMEM;
    for (int i = 0; i < s->loop_count; i++) {
        s->loops[i] = malloc(sizeof *s->loops[i]);
        if (!s->loops[i]) return CHAT_E_NOMEM;
        err = loop_init(s->loops[i], s, i, (struct sockaddr *)&addr);
        if (err) return err;
        if (i == 0) {
            s->port = bound_port(s->loops[0]);
            resolve_listen_address(&s->config, s->port, &addr);
        }
    }
    for (int i = 0; i < s->loop_count; i++) {
        err = loop_start(s->loops[i]);
        if (err) return err;
    }
    return 0;
}

/* Settings that ask for something this build does not do yet: refusing to
 * start is safer than serving plain ws:// to someone who asked for TLS. */
static int server_check_unbuilt(const struct config *cfg)
{
    if (cfg->tls_cert_file[0]) {
        log_error(
            "TLS_CERT_FILE is set, but TLS is not built yet: terminate TLS in front of chatd");
        return CHAT_E_CONFIG;
    }
    if (cfg->redis_url[0]) {
        log_error("REDIS_URL is set, but multi-instance delivery is not built yet");
        return CHAT_E_CONFIG;
    }
    return 0;
}

const double server_latency_bounds[SERVER_LATENCY_BUCKETS - 1] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                                                  0.025,  0.05,  0.1,   0.25,  1.0};

void server_stats_store_latency(struct server_stats *stats, int64_t elapsed_us)
{
    int bucket = 0;
    while (bucket < SERVER_LATENCY_BUCKETS - 1 && elapsed_us > server_latency_bounds[bucket] * 1e6)
        bucket++;
    atomic_fetch_add_explicit(&stats->store_latency[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stats->store_latency_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stats->store_latency_sum_us, elapsed_us, memory_order_relaxed);
}

int server_start(struct server *s)
{
    char err_text[256] = "";
    if (server_check_unbuilt(&s->config) != 0) return CHAT_E_CONFIG;
    s->loop_count = s->config.workers;
    s->started_ms = (int64_t)uv_hrtime() / 1000000;
    s->jwt = (struct jwt_verifier){
        .secret = (const uint8_t *)s->config.jwt_secret,
        .secret_len = s->config.jwt_secret_len,
        .issuer = s->config.jwt_issuer[0] ? s->config.jwt_issuer : NULL,
        .audience = s->config.jwt_audience[0] ? s->config.jwt_audience : NULL,
    };
    s->registry = registry_new(s->loop_count);
    s->ip_limit = ip_limit_new();
    s->rate_limit = rate_limit_new(s->config.rate_limit_messages, s->config.rate_limit_window_ms);
    if (!s->registry || !s->ip_limit || !s->rate_limit) return CHAT_E_NOMEM;

    int err = store_open(&s->store, s->config.database_url, s->config.db_pool_size, err_text,
                         sizeof err_text);
    if (err) {
        log_error("storage: %s", err_text);
        return err;
    }
    if (uv_loop_init(&s->main_loop) != 0) return CHAT_E_INTERNAL;
    err = server_start_loops(s);
    if (err) return err;
    /* the URL itself may carry a password: name the engine only */
    log_info("chatd listening on %s:%d with %d workers, storage %s with %d connection(s)",
             s->config.host, s->port, s->loop_count, store_engine_name(s->store),
             store_pool_size(s->store));
    return 0;
}

static void on_signal(uv_signal_t *handle, int signum)
{
    log_info("received %s, draining", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    uv_stop(handle->loop);
}

static void close_handle(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle)) uv_close(handle, NULL);
}

int server_run(struct server *s)
{
    uv_signal_t sigterm, sigint;
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(&s->main_loop, &sigterm);
    uv_signal_init(&s->main_loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(&s->main_loop, UV_RUN_DEFAULT);

    /* Shutdown (protocol §3): stop accepting, finish in-flight writes, close
     * every connection with 1001; then let the store finish what it holds. */
    atomic_store(&s->shutting_down, true);
    for (int i = 0; i < s->loop_count; i++) loop_drain(s->loops[i]);
    for (int i = 0; i < s->loop_count; i++)
        while (!loop_is_drained(s->loops[i])) usleep(SHUTDOWN_POLL_MS * 1000);
    store_close(s->store);
    s->store = NULL;
    for (int i = 0; i < s->loop_count; i++) loop_stop_and_join(s->loops[i]);
    uv_walk(&s->main_loop, close_handle, NULL);
    uv_run(&s->main_loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->main_loop);
    log_info("chatd stopped");
    return 0;
}

void server_free(struct server *s)
{
    for (int i = 0; s->loops && i < s->loop_count; i++) {
        if (!s->loops[i]) continue;
        loop_destroy(s->loops[i]);
        free(s->loops[i]);
    }
    free(s->loops);
    if (s->store) store_close(s->store);
    registry_free(s->registry);
    ip_limit_free(s->ip_limit);
    rate_limit_free(s->rate_limit);
}
