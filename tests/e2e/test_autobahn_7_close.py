"""Autobahn|Testsuite category 7 (close handling), ported to chatd.

Protocol §1: the server answers a client's close with a close carrying the
same code (1000 when the client sent none) and then closes TCP; nothing the
client sends after its close is processed. A 1-byte close payload, a payload
over 125 bytes and invalid codes fail with 1002; a reason that is not UTF-8
fails with 1007.
"""

from wsraw import (OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWebSocket, TcpClosed, build_frame,
                   close_payload, expect_invalid_json, expect_not_authenticated, probe_payload)


def expect_close_answer(ws, code):
    """The next message is the close answer with `code`; then TCP closes and
    nothing else arrives."""
    m = ws.recv_message()
    assert m.opcode == OP_CLOSE, "expected close %d, got %r" % (code, m)
    assert m.close_code == code, "close answer carries %s, want %d" % (m.close_code, code)
    ws.expect_tcp_close()
    return m


# ---------------------------------------------------------------- 7.1


def test_case_7_1_1(server):
    """Autobahn 7.1.1: Send a message followed by a close frame. The message is
    answered (chatd: invalid_json for "Hello World!"), then clean close with
    normal code."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"Hello World!") + build_frame(OP_CLOSE, close_payload(1000)))
        expect_invalid_json(ws)
        expect_close_answer(ws, 1000)


def test_case_7_1_2(server):
    """Autobahn 7.1.2: Send two close frames. Clean close with normal code; the
    second close is ignored."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) * 2)
        expect_close_answer(ws, 1000)


def test_case_7_1_3(server):
    """Autobahn 7.1.3: Send a ping after close message. Clean close with normal
    code, no pong sent."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_PING, b"after close"))
        expect_close_answer(ws, 1000)


def test_case_7_1_4(server):
    """Autobahn 7.1.4: Send text message after sending a close frame. Clean
    close with normal code, text message ignored."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, probe_payload("late")))
        expect_close_answer(ws, 1000)


def test_case_7_1_5(server):
    """Autobahn 7.1.5: Send message fragment1 followed by close then fragment.
    Clean close with normal code; the message is never processed."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b'{"type":"ping",', fin=False) + build_frame(OP_CLOSE, close_payload(1000))
                    + build_frame(OP_CONT, b'"requestId":"late"}'))
        expect_close_answer(ws, 1000)


def test_case_7_1_6(server):
    """Autobahn 7.1.6: Send 256K message followed by close then a ping (scaled:
    a MAX_FRAME_BYTES message). Messages before the close may be answered,
    then clean close with normal code; the ping after the close is not
    answered."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, probe_payload("big", 65536)) + build_frame(OP_TEXT, b"Hello World!")
                    + build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_PING, b""))
        m = ws.recv_message()
        if m.opcode == OP_TEXT:
            assert m.json().get("requestId") == "big", m
            m = ws.recv_message()
            if m.opcode == OP_TEXT:
                assert m.json().get("code") == "invalid_json", m
                m = ws.recv_message()
        assert m.opcode == OP_CLOSE and m.close_code == 1000, "expected close 1000, got %r" % m
        ws.expect_tcp_close()


# ---------------------------------------------------------------- 7.3


def test_case_7_3_1(server):
    """Autobahn 7.3.1: Send a close frame with payload length 0 (no close code,
    no close reason). Clean close; chatd answers with 1000 (protocol §1)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close()
        expect_close_answer(ws, 1000)


def test_case_7_3_2(server):
    """Autobahn 7.3.2: Send a close frame with payload length 1. The connection
    is failed (1002)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_CLOSE, b"a")
        ws.expect_close(1002)


def test_case_7_3_3(server):
    """Autobahn 7.3.3: Send a close frame with payload length 2 (regular close
    with a code). Clean close with normal code."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(1000)
        expect_close_answer(ws, 1000)


def test_case_7_3_4(server):
    """Autobahn 7.3.4: Send a close frame with close code and close reason.
    Clean close with normal code."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(1000, b"Hello World!")
        expect_close_answer(ws, 1000)


def test_case_7_3_5(server):
    """Autobahn 7.3.5: Send a close frame with close code and close reason of
    maximum length (123). Clean close with normal code."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(1000, b"*" * 123)
        expect_close_answer(ws, 1000)


def test_case_7_3_6(server):
    """Autobahn 7.3.6: Send a close frame with close code and close reason
    which is too long (124): the control frame is over 125 bytes. The
    connection is failed (1002)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(1000, b"*" * 124)
        ws.expect_close(1002)


# ---------------------------------------------------------------- 7.5


def test_case_7_5_1(server):
    """Autobahn 7.5.1: Send a close frame with invalid UTF8 payload
    (code 1000, reason cebae1bdb9cf83cebcceb5eda080656469746564). The
    connection is failed (1007)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")
        ws.expect_close(1007)


# ---------------------------------------------------------------- 7.7, 7.9, 7.13

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]


def _valid_code(case, code):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_close(code)
            expect_close_answer(ws, code)
    test.__doc__ = ("Autobahn %s: Send close with valid close code %d. Clean close; chatd echoes "
                    "the code (protocol §1)." % (case, code))
    return test


def _invalid_code(case, code):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_close(code)
            ws.expect_close(1002)
    test.__doc__ = "Autobahn %s: Send close with invalid close code %d. Close with protocol error (1002)." % (
        case, code)
    return test


for _j, _code in enumerate(VALID_CODES, start=1):
    globals()["test_case_7_7_%d" % _j] = _valid_code("7.7.%d" % _j, _code)
    globals()["test_case_7_7_%d" % _j].__name__ = "test_case_7_7_%d" % _j
for _j, _code in enumerate(INVALID_CODES, start=1):
    globals()["test_case_7_9_%d" % _j] = _invalid_code("7.9.%d" % _j, _code)
    globals()["test_case_7_9_%d" % _j].__name__ = "test_case_7_9_%d" % _j


def test_case_7_13_1(server):
    """Autobahn 7.13.1: Send close with close code 5000. Undefined by RFC 6455;
    chatd: invalid code → 1002 (protocol §1)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(5000)
        ws.expect_close(1002)


def test_case_7_13_2(server):
    """Autobahn 7.13.2: Send close with close code 65535. Undefined by RFC 6455;
    chatd: invalid code → 1002 (protocol §1)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(65535)
        ws.expect_close(1002)


# ---------------------------------------------------------------- beyond Autobahn


def test_close_after_probe_answers_probe_first(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, probe_payload("before")) + build_frame(OP_CLOSE, close_payload(1001)))
        expect_not_authenticated(ws, "before")
        expect_close_answer(ws, 1001)


def test_close_in_octet_chops(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_CLOSE, close_payload(3000, b"bye"), chop=1)
        expect_close_answer(ws, 3000)


def test_close_reason_valid_multibyte_utf8(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_close(1000, "κόσμε 👋".encode())
        expect_close_answer(ws, 1000)


def test_pong_after_close_ignored(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_PONG, b"x"))
        expect_close_answer(ws, 1000)


def test_tcp_half_close_without_close_frame(server):
    """A client that just shuts down its side (no close frame) is cleaned up:
    the server closes TCP too (it may send a close frame first, but never with
    1005 or 1006, which RFC 6455 §7.4.1 keeps off the wire)."""
    import socket
    with RawWebSocket.connect(server.port) as ws:
        ws.sock.shutdown(socket.SHUT_WR)
        try:
            m = ws.recv_message()
            assert m.opcode == OP_CLOSE and m.close_code not in (1005, 1006), m
        except TcpClosed:
            pass
        ws.expect_tcp_close()
