"""Autobahn|Testsuite category 2 (pings and pongs), ported to chatd.

The WebSocket layer answers pings exactly as Autobahn expects; where a case
expects "nothing", a probe (a JSON request chatd answers with error
not_authenticated) is sent and its answer must be the very next message.
"""

from wsraw import OP_PING, RawWebSocket, build_frame, probe


def test_case_2_1(server):
    """Autobahn 2.1: Send ping without payload. Expect a pong without payload."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_ping(b"")
        ws.expect_pong(b"")
        ws.close_handshake(1000)


def test_case_2_2(server):
    """Autobahn 2.2: Send ping with small text payload. Expect a pong with the same payload."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_ping(b"Hello, world!")
        ws.expect_pong(b"Hello, world!")
        ws.close_handshake(1000)


def test_case_2_3(server):
    """Autobahn 2.3: Send ping with small binary (non UTF-8) payload. Expect the same pong."""
    payload = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    with RawWebSocket.connect(server.port) as ws:
        ws.send_ping(payload)
        ws.expect_pong(payload)
        ws.close_handshake(1000)


def test_case_2_4(server):
    """Autobahn 2.4: Send ping with binary payload of 125 octets. Expect the same pong."""
    payload = b"\xfe" * 125
    with RawWebSocket.connect(server.port) as ws:
        ws.send_ping(payload)
        ws.expect_pong(payload)
        ws.close_handshake(1000)


def test_case_2_5(server):
    """Autobahn 2.5: Send ping with binary payload of 126 octets. Control frames
    are at most 125 bytes: the connection is failed with 1002, no pong."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_ping(b"\xfe" * 126)
        ws.expect_close(1002)


def test_case_2_6(server):
    """Autobahn 2.6: Send ping with binary payload of 125 octets, send in
    octet-wise chops. Expect the same pong."""
    payload = b"\xfe" * 125
    with RawWebSocket.connect(server.port) as ws:
        ws.send_ping(payload, chop=1)
        ws.expect_pong(payload)
        ws.close_handshake(1000)


def test_case_2_7(server):
    """Autobahn 2.7: Send unsolicited pong without payload. Verify nothing is
    received. Clean close with normal code."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_pong(b"")
        probe(ws)
        ws.close_handshake(1000)


def test_case_2_8(server):
    """Autobahn 2.8: Send unsolicited pong with payload. Verify nothing is
    received. Clean close with normal code."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_pong(b"unsolicited pong payload")
        probe(ws)
        ws.close_handshake(1000)


def test_case_2_9(server):
    """Autobahn 2.9: Send unsolicited pong with payload. Send ping with payload.
    Verify pong for ping is received."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_pong(b"unsolicited pong payload")
        ws.send_ping(b"ping payload")
        ws.expect_pong(b"ping payload")
        ws.close_handshake(1000)


def test_case_2_10(server):
    """Autobahn 2.10: Send 10 Pings with payload. Expect 10 pongs, in order."""
    with RawWebSocket.connect(server.port) as ws:
        for i in range(10):
            ws.send_ping(b"payload-%d" % i)
        for i in range(10):
            ws.expect_pong(b"payload-%d" % i)
        ws.close_handshake(1000)


def test_case_2_11(server):
    """Autobahn 2.11: Send 10 Pings with payload. Send out octets in octet-wise
    chops. Expect 10 pongs, in order."""
    with RawWebSocket.connect(server.port) as ws:
        data = b"".join(build_frame(OP_PING, b"payload-%d" % i) for i in range(10))
        ws.send_raw(data, chop=1)
        for i in range(10):
            ws.expect_pong(b"payload-%d" % i)
        ws.close_handshake(1000)


# ---------------------------------------------------------------- beyond Autobahn


def test_pings_interleaved_with_probes(server):
    with RawWebSocket.connect(server.port) as ws:
        for i in range(5):
            ws.send_ping(b"p%d" % i)
            ws.expect_pong(b"p%d" % i)
            probe(ws, "probe-%d" % i)
        ws.close_handshake(1000)
