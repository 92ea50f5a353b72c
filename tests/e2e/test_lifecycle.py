"""Connection lifecycle over real sockets (protocol §3): auth timeout (4000),
idle timeout (4002; text frames count, WebSocket pings/pongs do not), the
server's WebSocket heartbeat and the dead-peer drop, the end of a session
(token expiry, revocation, user deletion: session_ended then 4003), the
slow-consumer close (4004), SIGTERM (1001 to everyone, exit 0) and clientId.

Timers are shortened through the environment so the suite stays fast; the
bounds checked on elapsed times are wide (they say "not at once" and "not
never"), they are not performance figures.
"""

import asyncio
import json
import socket
import threading
import time

import pytest

from chat_helpers import (assert_error, assert_uuid, claims, close_code_of, fresh_user,
                          login, raw_authed, raw_authenticate, raw_connect, raw_sync, read_close_code,
                          PRESENCE)
from conftest import DEFAULT_TIMEOUT, chatd, run
from wsraw import (OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWebSocket, TcpClosed, handshake_request,
                   new_key)

AUTH_TIMEOUT = 0.3
IDLE_TIMEOUT = 0.7


@pytest.fixture(scope="module")
def timers():
    """Short auth and idle timeouts, a heartbeat too slow to matter, a fast
    revocation check."""
    env = {"AUTH_TIMEOUT_MS": int(AUTH_TIMEOUT * 1000), "IDLE_TIMEOUT_MS": int(IDLE_TIMEOUT * 1000),
           "HEARTBEAT_INTERVAL_MS": 10000, "REVOCATION_CHECK_MS": 300}
    with chatd(env=env, users=["alice", "bob"], follows=[("alice", "bob")]) as s:
        yield s


def pump_until(ws, type_, timeout, ping_every=0.2):
    """Keep a raw session alive with app-level pings while waiting for a message
    of `type_`; returns (message, seconds waited, other non-pong messages)."""
    start = time.monotonic()
    others = []
    next_ping = start
    while True:
        now = time.monotonic()
        if now - start > timeout:
            raise AssertionError("no %s within %.1fs; got %r" % (type_, timeout, others[-5:]))
        if now >= next_ping:
            ws.send_json({"type": "ping"})
            next_ping = now + ping_every
        try:
            m = ws.recv_message(max(0.01, next_ping - time.monotonic()))
        except TimeoutError:
            continue
        if m.opcode == OP_CLOSE:
            raise AssertionError("closed (%s) before %s; got %r" % (m.close_code, type_, others[-5:]))
        if m.opcode != OP_TEXT:
            continue
        obj = m.json()
        if obj.get("type") == type_:
            return obj, time.monotonic() - start, others
        if obj.get("type") not in ("pong",) + PRESENCE:
            others.append(obj)


# ---------------------------------------------------------------- auth timeout


def test_auth_timeout_closes_4000(timers):
    with raw_connect(timers) as ws:
        t0 = time.monotonic()
        code, seen = read_close_code(ws, timeout=AUTH_TIMEOUT + 3)
        elapsed = time.monotonic() - t0
        assert code == 4000, "expected close 4000 (auth timeout), got %s; messages %r" % (code, seen)
        assert elapsed >= AUTH_TIMEOUT * 0.6, "closed after %.2fs, before AUTH_TIMEOUT_MS" % elapsed
        assert seen == [], seen


def test_auth_timeout_not_extended_by_other_requests(timers):
    """Requests answered not_authenticated do not reset the auth timer."""
    with raw_connect(timers) as ws:
        t0 = time.monotonic()
        while True:
            assert time.monotonic() - t0 < AUTH_TIMEOUT + 3, "never closed with 4000"
            try:
                ws.send_json({"type": "ping", "requestId": "x"})
            except TcpClosed:
                break
            m = ws.recv_message(2)
            if m.opcode == OP_CLOSE:
                assert m.close_code == 4000, m
                break
            assert_error(m.json(), "not_authenticated", "x")
            time.sleep(0.05)


def test_authenticated_in_time_is_not_closed(timers):
    """A connection that authenticates before AUTH_TIMEOUT_MS stays open past it."""
    ws, _ = raw_authed(timers, fresh_user(timers))
    with ws:
        others = []
        for i in range(5):
            time.sleep(AUTH_TIMEOUT / 2)
            others += raw_sync(ws, "alive%d" % i)
        assert others == [], others


# ---------------------------------------------------------------- idle timeout


def test_idle_timeout_closes_4002(timers):
    async def go():
        c = await login(timers, fresh_user(timers))
        t0 = time.monotonic()
        code, seen = await close_code_of(c.ws, timeout=IDLE_TIMEOUT + 4)
        elapsed = time.monotonic() - t0
        assert code == 4002, "expected close 4002 (idle), got %s; messages %r" % (code, seen)
        assert elapsed >= IDLE_TIMEOUT * 0.7, "closed after %.2fs, before IDLE_TIMEOUT_MS" % elapsed
    run(go())


def test_app_ping_keeps_alive_and_pong_has_ts(timers):
    """{"type":"ping"} every 0.2 s keeps the session open across 3 idle periods;
    each pong carries ts, the Unix time in ms (an integer)."""
    async def go():
        c = await login(timers, fresh_user(timers))
        t_end = time.monotonic() + 3 * IDLE_TIMEOUT
        while time.monotonic() < t_end:
            before = time.time() * 1000
            pong = await c.request("ping")
            after = time.time() * 1000
            assert pong.get("type") == "pong", pong
            ts = pong.get("ts")
            assert isinstance(ts, int) and not isinstance(ts, bool), "pong ts must be an integer: %r" % pong
            assert before - 1000 <= ts <= after + 1000, "pong ts %r is not now (%d..%d)" % (ts, before, after)
            await asyncio.sleep(0.2)
        # A ping without requestId gets a pong without one.
        await c.send({"type": "ping"})
        pong = await c.recv()
        assert pong.get("type") == "pong" and "requestId" not in pong, pong
        # Then silence: idle close.
        code, seen = await close_code_of(c.ws, timeout=IDLE_TIMEOUT + 4)
        assert code == 4002, (code, seen)
    run(go())


def test_any_text_frame_counts_as_activity(timers):
    """Any text frame, even one answered invalid_json, is client activity."""
    ws, _ = raw_authed(timers, fresh_user(timers))
    with ws:
        t_end = time.monotonic() + 3 * IDLE_TIMEOUT
        while time.monotonic() < t_end:
            ws.send_text(b"not json")
            m = ws.recv_message(2)
            assert m.opcode == OP_TEXT, "connection closed while sending text frames: %r" % m
            assert_error(m.json(), "invalid_json")
            time.sleep(0.2)


def test_websocket_pings_and_pongs_do_not_count(timers):
    """A peer that only sends WebSocket pongs and pings (no text) is closed
    4002 after IDLE_TIMEOUT_MS though its frames keep arriving."""
    ws, _ = raw_authed(timers, fresh_user(timers))
    with ws:
        t0 = time.monotonic()
        code = None
        while time.monotonic() - t0 < IDLE_TIMEOUT + 4:
            try:
                ws.send_pong(b"unsolicited")
                ws.send_ping(b"hb")
            except TcpClosed:
                break
            try:
                m = ws.recv_message(0.1)
            except TimeoutError:
                continue
            except TcpClosed:
                break
            if m.opcode == OP_CLOSE:
                code = m.close_code
                break
            assert m.opcode == OP_PONG, "unexpected %r" % m
        elapsed = time.monotonic() - t0
        assert code == 4002, "expected close 4002 (pongs do not count), got %s after %.2fs" % (code, elapsed)
        assert elapsed >= IDLE_TIMEOUT * 0.7, "closed after %.2fs, before IDLE_TIMEOUT_MS" % elapsed


# ---------------------------------------------------------------- session end


def test_token_expiry_ends_session(timers):
    """A token accepted inside the 30 s leeway (exp = now - 28) ends at exp + 30:
    session_ended {reason: token_expired} (no requestId) then close 4003."""
    user = fresh_user(timers)
    now = int(time.time())
    tok = timers.sign_jwt(claims(timers, user, exp=now - 28, iat=now - 600))
    ws, reply = raw_authenticate(timers, tok, "exp")
    with ws:
        assert reply.get("type") == "auth_success", reply
        msg, waited, others = pump_until(ws, "session_ended", timeout=6)
        assert msg.get("reason") == "token_expired", msg
        assert "requestId" not in msg, msg
        assert others == [], others
        assert waited >= 0.7, "session ended after %.2fs, before exp + leeway" % waited
        ws.expect_close(4003)


def test_revoked_jti_ends_session(timers):
    user = fresh_user(timers)
    jti = "live-revoke-%d" % time.time_ns()
    ws, _ = raw_authed(timers, user, token=timers.token(user, jti=jti))
    with ws:
        timers.revoke(jti)
        msg, _, others = pump_until(ws, "session_ended", timeout=4)
        assert msg.get("reason") == "token_revoked", msg
        assert others == [], others
        ws.expect_close(4003)


def test_deleted_user_session_ends(timers):
    user = fresh_user(timers)
    ws, _ = raw_authed(timers, user)
    with ws:
        timers.user_del(user)
        msg, _, others = pump_until(ws, "session_ended", timeout=4)
        assert msg.get("reason") == "user_deleted", msg
        assert others == [], others
        ws.expect_close(4003)


def test_client_id_differs_per_connection(timers):
    """clientId is a UUID per connection: two connections of one user and one of
    another user all differ."""
    async def go():
        a = fresh_user(timers)
        b = fresh_user(timers)
        cs = [await login(timers, a), await login(timers, a), await login(timers, b)]
        ids = [c.client_id for c in cs]
        for i in ids:
            assert_uuid(i)
        assert len(set(ids)) == 3, ids
        for c in cs:
            await c.close()
    run(go())


# ---------------------------------------------------------------- heartbeat

HEARTBEAT = 0.2


@pytest.fixture(scope="module")
def heartbeat():
    env = {"HEARTBEAT_INTERVAL_MS": int(HEARTBEAT * 1000), "IDLE_TIMEOUT_MS": 60000}
    with chatd(env=env, users=["alice"]) as s:
        yield s


def test_server_sends_pings_every_interval(heartbeat):
    """The server pings every HEARTBEAT_INTERVAL_MS; a peer answering them stays open."""
    ws, _ = raw_authed(heartbeat, fresh_user(heartbeat))
    with ws:
        pings = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8 * HEARTBEAT:
            try:
                f = ws.recv_message(0.05, skip_pings=False)
            except TimeoutError:
                continue
            assert f.opcode == OP_PING, "unexpected %r" % f
            pings.append(time.monotonic())
            ws.send_pong(f.payload)
        assert len(pings) >= 3, "only %d pings in %.1fs with HEARTBEAT_INTERVAL_MS=%d" % (
            len(pings), 8 * HEARTBEAT, HEARTBEAT * 1000)
        assert raw_sync(ws, "after-pings") == []


def test_silent_peer_is_dropped(heartbeat):
    """A peer from which nothing at all arrives (it never answers pings) is
    dropped after about two intervals. What is checked: the server closes the
    TCP connection within 3 s (a close frame before it is allowed; the
    protocol names no code for this drop)."""
    ws, _ = raw_authed(heartbeat, fresh_user(heartbeat))
    with ws:
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 3:
            try:
                ws.recv_message(0.1, skip_pings=True)
            except TimeoutError:
                continue
            except TcpClosed:
                closed = True
                break
        assert closed, "a peer silent for %.1fs (HEARTBEAT_INTERVAL_MS=%d) was not dropped" % (
            time.monotonic() - t0, HEARTBEAT * 1000)
        assert time.monotonic() - t0 >= HEARTBEAT, "dropped before one interval"


def test_peer_answering_pings_is_kept(heartbeat):
    """python3-websockets answers pings itself: silent on the app level, it is
    not dropped across several intervals."""
    async def go():
        c = await login(heartbeat, fresh_user(heartbeat))
        await asyncio.sleep(6 * HEARTBEAT)
        await c.sync()
        await c.close()
    run(go())


def test_peer_sending_text_but_no_pongs_is_kept(heartbeat):
    """Any frame counts for the dead-peer check: text frames without pongs keep it."""
    ws, _ = raw_authed(heartbeat, fresh_user(heartbeat))
    with ws:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 6 * HEARTBEAT:
            i += 1
            assert raw_sync(ws, "t%d" % i) == []  # recv_message skips (and never answers) pings
            time.sleep(HEARTBEAT / 4)


# ---------------------------------------------------------------- slow consumer

QUEUE = 65536
BIG = 50000  # code points per flood message: ~50 KB per event


def _raw_small_window(port):
    """A raw WebSocket whose kernel receive buffer is as small as possible."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEFAULT_TIMEOUT)
    sock.connect(("127.0.0.1", port))
    ws = RawWebSocket(sock)
    sock.sendall(handshake_request("/ws", "127.0.0.1:%d" % port, new_key()))
    ws._read_http_response()
    assert ws.response_status == 101, ws.response_status
    return ws


def test_slow_consumer_closed_4004():
    """B's connection that stops reading while A floods B is closed with 4004;
    A keeps getting every ack and B's other connection, which reads, gets every
    message and stays open.

    What is checked on the slow connection, read only after the flood: a
    sequence of complete new_message events (a prefix of what A sent, in
    order), then a close frame with 4004, then the TCP close."""
    env = {"MAX_SEND_QUEUE_BYTES": QUEUE, "RATE_LIMIT_MESSAGES": 100000, "MAX_MESSAGE_LENGTH": BIG + 10}
    with chatd(env=env, users=["alice", "bob"], follows=[("alice", "bob")]) as srv:
        slow = _raw_small_window(srv.port)
        slow.send_json({"type": "authenticate", "token": srv.token("bob")})
        assert slow.recv_json().get("type") == "auth_success"
        raw_sync(slow, "slow-ready")
        n = 8 * 1024 * 1024 // (BIG + 200)  # ~8 MB: more than the kernel buffers hold

        async def go():
            a = await login(srv, "alice")
            b2 = await login(srv, "bob")
            got = []

            async def reader():
                while len(got) < n:
                    m = await b2.recv(timeout=20)
                    if m.get("type") == "new_message":
                        got.append(m["message"]["content"][:12])

            task = asyncio.ensure_future(reader())
            for i in range(0, n, 8):
                rids = []
                for j in range(i, min(n, i + 8)):
                    rid = "f%d" % j
                    rids.append(rid)
                    await a.send({"type": "send_private_message", "requestId": rid,
                                  "recipientId": srv.users["bob"],
                                  "content": ("%08d" % j) + "x" * (BIG - 8)})
                for rid in rids:
                    while True:
                        m = await a.recv(timeout=20)
                        if m.get("requestId") == rid:
                            break
                    assert m.get("type") == "new_message", "send %s: %r" % (rid, str(m)[:300])
            await asyncio.wait_for(task, 30)
            assert got == ["%08dxxxx" % j for j in range(n)], "the reading connection lost messages"
            await b2.sync()
            await a.close()
            await b2.close()

        run(go(), timeout=90)

        contents = []
        code = None
        while True:
            try:
                m = slow.recv_message(DEFAULT_TIMEOUT)
            except TcpClosed:
                break
            except TimeoutError:
                raise AssertionError("slow connection: after %d messages, neither close nor data for %.0fs"
                                     % (len(contents), DEFAULT_TIMEOUT))
            if m.opcode == OP_CLOSE:
                code = m.close_code
                break
            assert m.opcode == OP_TEXT, m
            obj = m.json()
            assert obj.get("type") == "new_message", str(obj)[:200]
            contents.append(obj["message"]["content"][:8])
        assert contents == ["%08d" % j for j in range(len(contents))], "slow connection got a gap"
        assert len(contents) < n, "the slow connection received all %d messages: never closed" % n
        assert code == 4004, "slow connection: expected close 4004 after %d messages, got %s" % (
            len(contents), "TCP close without a close frame" if code is None else "close %s" % code)
        slow.expect_tcp_close()
        slow.close()


# ---------------------------------------------------------------- SIGTERM


def test_sigterm_closes_everyone_1001(chatd_factory):
    """SIGTERM: authenticated and unauthenticated clients get close 1001 (they
    answer it, as RFC 6455 asks), TCP closes, and chatd exits 0 (checked by
    srv.stop(), which runs in a thread meanwhile)."""
    srv = chatd_factory(users=["alice", "bob"], follows=[("alice", "bob")])
    a1, _ = raw_authed(srv, "alice")
    a2, _ = raw_authed(srv, "alice")
    b, _ = raw_authed(srv, "bob")
    pre = raw_connect(srv)
    errors = []

    def stop():
        try:
            srv.stop()
        except BaseException as e:  # re-raised below
            errors.append(e)

    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    try:
        for name, ws in (("alice#1", a1), ("alice#2", a2), ("bob", b), ("unauthenticated", pre)):
            while True:
                try:
                    m = ws.recv_message(DEFAULT_TIMEOUT)
                except (TcpClosed, TimeoutError) as e:
                    raise AssertionError("%s: no close 1001 after SIGTERM: %s" % (name, e)) from None
                if m.opcode == OP_CLOSE:
                    break
                assert m.opcode == OP_TEXT and m.json().get("type") in PRESENCE, \
                    "%s: unexpected before the close: %r" % (name, m)
            assert m.close_code == 1001, "%s: expected close 1001 on SIGTERM, got %s" % (name, m.close_code)
            try:
                ws.send_close(1001)
            except (TcpClosed, OSError):
                pass
            ws.expect_tcp_close()
    finally:
        stopper.join(10)
        for ws in (a1, a2, b, pre):
            ws.close()
    if errors:
        raise errors[0]
    assert not stopper.is_alive(), "srv.stop() did not return"
    # Stopped accepting.
    with pytest.raises(OSError):
        raw_connect(srv)


# ---------------------------------------------------------------- request head timeout


def test_incomplete_request_head_is_dropped(timers):
    """A connection that never finishes its HTTP request head is closed once
    the head timeout (10 s, or AUTH_TIMEOUT_MS when shorter) passes, with no
    answer: it never became a WebSocket."""
    import socket
    with socket.create_connection(("127.0.0.1", timers.port), timeout=5) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        t0 = time.monotonic()
        data = s.recv(4096)
        elapsed = time.monotonic() - t0
    assert data == b"", "expected the server to close, got %r" % data[:100]
    assert AUTH_TIMEOUT * 0.6 <= elapsed <= AUTH_TIMEOUT + 2, "closed after %.2fs" % elapsed
