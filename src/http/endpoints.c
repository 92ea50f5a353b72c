/* /health, /ready and /metrics: see endpoints.h. */
#include "http/endpoints.h"

#include "http/response.h"

#include <stdio.h>
#include <string.h>

#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX 8192

/* The store-latency histogram in Prometheus form (cumulative buckets). */
static int write_latency_histogram(const struct endpoint_status *st, buf *body)
{
    int err = buf_printf(body, "# HELP chatd_store_latency_seconds Time from a request's "
                               "submission to the store until its answer runs.\n"
                               "# TYPE chatd_store_latency_seconds histogram\n");
    long cumulative = 0;
    for (int i = 0; !err && i < st->latency_bucket_count; i++) {
        cumulative += st->latency_buckets[i];
        if (i == st->latency_bucket_count - 1)
            err = buf_printf(body, "chatd_store_latency_seconds_bucket{le=\"+Inf\"} %ld\n",
                             cumulative);
        else
            err = buf_printf(body, "chatd_store_latency_seconds_bucket{le=\"%g\"} %ld\n",
                             st->latency_bounds[i], cumulative);
    }
    if (!err)
        err = buf_printf(body,
                         "chatd_store_latency_seconds_sum %.6f\n"
                         "chatd_store_latency_seconds_count %ld\n",
                         st->latency_sum_s, st->latency_count);
    return err;
}

/* The Prometheus text exposition of the server's counters and gauges. */
static int write_metrics(const struct endpoint_status *st, buf *out)
{
    buf body;
    buf_init(&body, METRICS_MAX);
    int err = buf_printf(
        &body,
        "# HELP chatd_connections Open WebSocket connections.\n"
        "# TYPE chatd_connections gauge\n"
        "chatd_connections %ld\n"
        "# HELP chatd_messages_stored_total Messages acknowledged after commit.\n"
        "# TYPE chatd_messages_stored_total counter\n"
        "chatd_messages_stored_total %ld\n"
        "# HELP chatd_deliveries_total Events handed to connections other than the requester.\n"
        "# TYPE chatd_deliveries_total counter\n"
        "chatd_deliveries_total %ld\n"
        "# HELP chatd_auth_failures_total Refused authentications.\n"
        "# TYPE chatd_auth_failures_total counter\n"
        "chatd_auth_failures_total %ld\n"
        "# HELP chatd_database_up Whether the database answers (1) or not (0).\n"
        "# TYPE chatd_database_up gauge\n"
        "chatd_database_up %d\n"
        "# HELP chatd_workers Event-loop threads.\n"
        "# TYPE chatd_workers gauge\n"
        "chatd_workers %d\n"
        "# HELP chatd_uptime_seconds Seconds since start.\n"
        "# TYPE chatd_uptime_seconds gauge\n"
        "chatd_uptime_seconds %lld\n",
        st->connections, st->messages_stored, st->deliveries, st->auth_failures, st->ready ? 1 : 0,
        st->workers, (long long)st->uptime_s);
    if (!err) err = write_latency_histogram(st, &body);
    if (!err)
        err = http_response_write(out, 200, METRICS_TYPE, NULL, (const char *)body.data, body.len,
                                  false);
    buf_free(&body);
    return err;
}

int http_endpoint_respond(const struct http_request *r, const struct endpoint_status *status,
                          buf *out)
{
    char body[160];
    int n;
    if (strcmp(r->method, "GET") != 0)
        return http_response_write(out, 405, "text/plain", "Allow: GET\r\n", "method not allowed\n",
                                   19, false);
    if (strcmp(r->path, "/health") == 0) {
        n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"uptimeS\":%lld,\"connections\":%ld}",
                     (long long)status->uptime_s, status->connections);
        return http_response_write(out, 200, JSON_TYPE, NULL, body, (size_t)n, false);
    }
    if (strcmp(r->path, "/ready") == 0) {
        n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"database\":\"%s\"}",
                     status->ready ? "ready" : "unavailable", status->ready ? "up" : "down");
        return http_response_write(out, status->ready ? 200 : 503, JSON_TYPE, NULL, body, (size_t)n,
                                   false);
    }
    if (strcmp(r->path, "/metrics") == 0) return write_metrics(status, out);
    return http_response_write(out, 404, "text/plain", NULL, "not found\n", 10, false);
}
