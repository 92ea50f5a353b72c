/* The plain HTTP endpoints (protocol §10): /health, /ready and /metrics,
 * answered from a snapshot of the server's state. */
#ifndef CHATD_HTTP_ENDPOINTS_H
#define CHATD_HTTP_ENDPOINTS_H

#include "http/request.h"
#include "util/buf.h"

#include <stdbool.h>
#include <stdint.h>

#define ENDPOINT_LATENCY_BUCKETS_MAX 16

struct endpoint_status {
    int64_t uptime_s;
    long connections;
    bool ready; /* the database answers */
    int workers;
    long messages_stored;
    long deliveries;
    long auth_failures;
    /* the store-latency histogram: per-bucket counts (not cumulative) with
     * their upper bounds in seconds, the last bucket +Inf */
    const double *latency_bounds;
    long latency_buckets[ENDPOINT_LATENCY_BUCKETS_MAX];
    int latency_bucket_count;
    long latency_count;
    double latency_sum_s;
};

/* Writes the whole response to a plain (non-upgrade) request into out:
 * GET /health, GET /ready, GET /metrics (Prometheus text format), 404 for
 * other paths, 405 for other methods. */
int http_endpoint_respond(const struct http_request *r, const struct endpoint_status *status,
                          buf *out);

#endif
