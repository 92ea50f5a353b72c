"""HTTP endpoints (protocol §10) and the connection limits enforced at upgrade
time (protocol §3: over MAX_CONNECTIONS → 503, over MAX_CONNECTIONS_PER_IP → 429).
"""

import re
import time

import pytest

from conftest import http_raw, run
from wsraw import RawWebSocket, handshake_request, new_key, probe


def wait_for(pred, timeout=3.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, timeout, value))
        time.sleep(0.02)


def upgrade_status(port, source_ip=None):
    req = handshake_request("/ws", "127.0.0.1:%d" % port, new_key())
    return http_raw(port, req, source_ip=source_ip).status


# ---------------------------------------------------------------- endpoints


def test_health(server):
    """GET /health → 200 {"status":"ok","uptimeS":…,"connections":…}."""
    resp = server.http_get("/health")
    assert resp.status == 200, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp
    body = resp.json()
    assert body.get("status") == "ok", body
    assert isinstance(body.get("uptimeS"), (int, float)) and not isinstance(body["uptimeS"], bool), body
    assert body["uptimeS"] >= 0, body
    assert isinstance(body.get("connections"), int) and not isinstance(body["connections"], bool), body
    assert body["connections"] >= 0, body


def test_health_uptime_grows(server):
    first = server.http_get("/health").json()["uptimeS"]
    time.sleep(1.1)
    second = server.http_get("/health").json()["uptimeS"]
    assert second > first, (first, second)


def test_health_counts_websocket_connections(server):
    """`connections` goes up by the WebSocket connections opened and back down
    when they close."""
    def count():
        return server.http_get("/health").json()["connections"]
    base = count()
    conns = [RawWebSocket.connect(server.port, "/ws") for _ in range(3)]
    try:
        for ws in conns:
            probe(ws)
        wait_for(lambda: count() >= base + 3, what="connections >= %d + 3" % base)
    finally:
        for ws in conns:
            try:
                ws.close_handshake(1000)
            finally:
                ws.close()
    wait_for(lambda: count() <= base, what="connections back to %d" % base)


def test_health_counts_authenticated_connections(server):
    def count():
        return server.http_get("/health").json()["connections"]
    base = count()

    async def go():
        a = await server.authed("alice")
        b = await server.authed("bob")
        wait_for(lambda: count() >= base + 2, what="connections >= %d + 2" % base)
        await a.close()
        await b.close()
    run(go())
    wait_for(lambda: count() <= base, what="connections back to %d" % base)


def test_ready_with_sqlite(server):
    """GET /ready → 200 while the database answers."""
    resp = server.http_get("/ready")
    assert resp.status == 200, resp


@pytest.mark.parametrize("path", ["/nope", "/health/x", "/wss", "/ws/extra", "/metricsx", "/.env"])
def test_unknown_path_404(server, path):
    resp = server.http_get(path)
    assert resp.status == 404, resp


def test_upgrade_on_unknown_path_404(server):
    """The upgrade is accepted on / and /ws only."""
    req = handshake_request("/chat", "127.0.0.1:%d" % server.port, new_key())
    resp = http_raw(server.port, req)
    assert resp.status == 404, resp


METRIC_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+]?([0-9.eE+-]+|NaN|[+-]?Inf)( -?[0-9]+)?$')


def test_metrics_prometheus_text(server):
    """GET /metrics → Prometheus text exposition format with connection and
    message figures."""
    resp = server.http_get("/metrics")
    assert resp.status == 200, resp
    assert resp.headers.get("content-type", "").startswith("text/plain"), resp
    text = resp.body.decode("utf-8")
    samples = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert samples, "no samples in /metrics: %r" % text[:500]
    for line in samples:
        assert METRIC_LINE.match(line), "not a Prometheus sample line: %r" % line
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line), "bad comment line %r" % line
    names = " ".join(l.split("{")[0].split(" ")[0] for l in samples)
    assert "connection" in names, "no connection metric in %r" % names
    assert "message" in names, "no message metric in %r" % names


def test_garbage_request_400(server):
    resp = http_raw(server.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    assert resp.status == 400, resp


# ---------------------------------------------------------------- limits


def test_max_connections_503(chatd_factory):
    """Over MAX_CONNECTIONS → HTTP 503 on upgrade; a freed slot is reusable."""
    srv = chatd_factory(env={"MAX_CONNECTIONS": "3", "MAX_CONNECTIONS_PER_IP": "100"})
    conns = [RawWebSocket.connect(srv.port, "/ws") for _ in range(3)]
    try:
        for ws in conns:
            probe(ws)
        assert upgrade_status(srv.port) == 503
        assert upgrade_status(srv.port, source_ip="127.0.0.2") == 503
        conns.pop().close_handshake(1000)
        wait_for(lambda: upgrade_status(srv.port) == 101, what="upgrade accepted after a close")
    finally:
        for ws in conns:
            ws.close()


def test_max_connections_per_ip_429(chatd_factory):
    """Over MAX_CONNECTIONS_PER_IP → HTTP 429; other addresses are unaffected."""
    srv = chatd_factory(env={"MAX_CONNECTIONS_PER_IP": "2", "MAX_CONNECTIONS": "100"})
    conns = [RawWebSocket.connect(srv.port, "/ws") for _ in range(2)]
    try:
        for ws in conns:
            probe(ws)
        assert upgrade_status(srv.port) == 429
        other = RawWebSocket.connect(srv.port, "/ws", source_ip="127.0.0.2")
        conns.append(other)
        probe(other)
        conns.pop(0).close_handshake(1000)
        wait_for(lambda: upgrade_status(srv.port) == 101, what="upgrade accepted after a close")
    finally:
        for ws in conns:
            ws.close()


def test_refused_upgrades_do_not_count(chatd_factory):
    """Refused upgrades (400, 429) leave no connection behind."""
    srv = chatd_factory(env={"MAX_CONNECTIONS_PER_IP": "2"})
    for _ in range(5):
        assert http_raw(srv.port, handshake_request("/ws", drop=["Sec-WebSocket-Key"])).status == 400
    conns = [RawWebSocket.connect(srv.port, "/ws") for _ in range(2)]
    try:
        for _ in range(5):
            assert upgrade_status(srv.port) == 429
        conns.pop().close_handshake(1000)
        wait_for(lambda: upgrade_status(srv.port) == 101, what="upgrade accepted after a close")
    finally:
        for ws in conns:
            ws.close()


def test_metrics_store_latency_histogram(server):
    """/metrics carries a histogram of store round trips (protocol §10:
    latencies): an authentication adds one, the buckets are cumulative and
    end with +Inf equal to the count."""
    def samples():
        text = server.http_get("/metrics").body.decode("utf-8")
        out = {}
        for line in text.splitlines():
            if line.startswith("chatd_store_latency_seconds"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    before = samples()

    async def go():
        c = await server.authed("alice")
        await c.close()
    run(go())
    after = samples()
    count = after["chatd_store_latency_seconds_count"]
    assert count >= before.get("chatd_store_latency_seconds_count", 0) + 1, (before, after)
    buckets = [v for k, v in after.items() if k.startswith("chatd_store_latency_seconds_bucket")]
    assert buckets == sorted(buckets), after
    assert after['chatd_store_latency_seconds_bucket{le="+Inf"}'] == count, after
    assert after["chatd_store_latency_seconds_sum"] > 0, after
