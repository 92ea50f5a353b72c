"""Autobahn|Testsuite category 3 (reserved bits), ported to chatd.

No extension that defines RSV bits is negotiated in these connections, so any
RSV bit fails the connection with 1002 (RFC 6455 §5.2) — before the frame is
acted upon: a ping with RSV set is not answered, a later ping neither.
Where Autobahn expects the echo of an earlier good text message, chatd's
answer to it (error invalid_json for "Hello, world!") must come first.
"""

import time

import pytest

from wsraw import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWebSocket, build_frame,
                   close_payload, expect_invalid_json)

HELLO = b"Hello, world!"


def test_case_3_1(server):
    """Autobahn 3.1: Send small text message with RSV = 1. The connection is
    failed immediately (1002), since RSV must be 0 when no extension defining
    RSV meaning has been negotiated."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, HELLO, rsv=1)
        ws.expect_close(1002)


def _good_bad_ping(server, rsv, chop=None, per_frame_delay=None):
    frames = [build_frame(OP_TEXT, HELLO), build_frame(OP_TEXT, HELLO, rsv=rsv), build_frame(OP_PING, HELLO)]
    with RawWebSocket.connect(server.port) as ws:
        if per_frame_delay is not None:
            for f in frames:
                try:
                    ws.send_raw(f)
                except Exception:
                    break  # the server may already have failed the connection
                time.sleep(per_frame_delay)
        else:
            try:
                ws.send_raw(b"".join(frames), chop=chop)
            except Exception:
                pass
        expect_invalid_json(ws)
        ws.expect_close(1002)


def test_case_3_2(server):
    """Autobahn 3.2: Send small text message, then send again with RSV = 2, then
    send Ping. Echo for first message is received, but then connection is
    failed immediately, since RSV must be 0 (no pong)."""
    _good_bad_ping(server, 2)


def test_case_3_3(server):
    """Autobahn 3.3: Send small text message, then send again with RSV = 3, then
    send Ping. Octets are sent in frame-wise chops. Echo for first message is
    received, but then connection is failed immediately (no pong)."""
    _good_bad_ping(server, 3, per_frame_delay=0.02)


def test_case_3_4(server):
    """Autobahn 3.4: Send small text message, then send again with RSV = 4, then
    send Ping. Octets are sent in octet-wise chops. Echo for first message is
    received, but then connection is failed immediately (no pong)."""
    _good_bad_ping(server, 4, chop=1)


def test_case_3_5(server):
    """Autobahn 3.5: Send small binary message with RSV = 5. The connection is
    failed immediately (1002, not 1003: the frame is refused before its opcode
    is looked at)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv=5)
        ws.expect_close(1002)


def test_case_3_6(server):
    """Autobahn 3.6: Send Ping with RSV = 6. The connection is failed
    immediately (1002, no pong)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_PING, HELLO, rsv=6)
        ws.expect_close(1002)


def test_case_3_7(server):
    """Autobahn 3.7: Send Close with RSV = 7. The connection is failed
    immediately (1002), not closed normally."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_CLOSE, close_payload(1000), rsv=7)
        ws.expect_close(1002)


# ---------------------------------------------------------------- beyond Autobahn

OPCODES = {"text": OP_TEXT, "binary": OP_BINARY, "ping": OP_PING, "pong": OP_PONG, "close": OP_CLOSE}


@pytest.mark.parametrize("opname", list(OPCODES))
@pytest.mark.parametrize("rsv", range(1, 8), ids=lambda r: "rsv%d" % r)
@pytest.mark.parametrize("with_payload", [False, True], ids=["empty", "payload"])
def test_rsv_bits_every_opcode(server, rsv, opname, with_payload):
    """Every combination of RSV bits on every opcode, with and without payload → 1002."""
    op = OPCODES[opname]
    payload = b""
    if with_payload:
        payload = close_payload(1000, b"bye") if op == OP_CLOSE else HELLO
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(op, payload, rsv=rsv)
        ws.expect_close(1002)


def test_rsv_on_continuation_frame(server):
    """RSV set on the continuation of a fragmented text message → 1002."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, b'{"type":', fin=False)
        ws.send_frame(0, b'"ping"}', rsv=4)
        ws.expect_close(1002)
