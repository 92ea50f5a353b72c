"""Autobahn|Testsuite category 5 (fragmentation), ported to chatd.

Where Autobahn sends "fragment1" + "fragment2" and expects the echo of the
reassembled message, these tests fragment a probe (a JSON request chatd
answers before authentication with error not_authenticated carrying the
requestId): the answer proves the fragments were reassembled in order.
Pings between fragments are answered at once. Control frames may not be
fragmented, a continuation needs a message to continue, and a new data
frame may not start inside a fragmented message: all fail with 1002.

"Frame-wise chops" write each frame separately with a short pause;
"octet-wise chops" write the bytes one at a time.
"""

import time

from wsraw import (OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWebSocket, build_frame,
                   expect_not_authenticated, probe_payload)


def split(data, n):
    """`data` cut into n non-empty pieces, in order."""
    step = max(1, len(data) // n)
    cuts = [i * step for i in range(n)] + [len(data)]
    return [data[cuts[i]:cuts[i + 1]] for i in range(n)]


def send_frames(ws, frames, mode):
    """mode: 'one' (one write), 'frame' (a write per frame), 'octet' (a byte per write).
    Stops quietly if the server has already closed."""
    try:
        if mode == "one":
            ws.send_raw(b"".join(frames))
        elif mode == "frame":
            for f in frames:
                ws.send_raw(f)
                time.sleep(0.02)
        else:
            ws.send_raw(b"".join(frames), chop=1)
    except Exception:
        pass


def fragmented_probe(rid):
    a, b = split(probe_payload(rid), 2)
    return [build_frame(OP_TEXT, a, fin=False), build_frame(OP_CONT, b)]


# ---------------------------------------------------------------- 5.1 - 5.2


def test_case_5_1(server):
    """Autobahn 5.1: Send Ping fragmented into 2 fragments. The connection is
    failed immediately (1002), since control frames cannot be fragmented."""
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(OP_PING, b"fragment1", fin=False),
                         build_frame(OP_CONT, b"fragment2")], "one")
        ws.expect_close(1002)


def test_case_5_2(server):
    """Autobahn 5.2: Send Pong fragmented into 2 fragments. The connection is
    failed immediately (1002), since control frames cannot be fragmented."""
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(OP_PONG, b"fragment1", fin=False),
                         build_frame(OP_CONT, b"fragment2")], "one")
        ws.expect_close(1002)


# ---------------------------------------------------------------- 5.3 - 5.5


def _two_fragments(server, case, mode):
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, fragmented_probe(case), mode)
        expect_not_authenticated(ws, case)
        ws.close_handshake(1000)


def test_case_5_3(server):
    """Autobahn 5.3: Send text Message fragmented into 2 fragments. Message is
    processed (chatd: the reassembled probe is answered)."""
    _two_fragments(server, "5.3", "one")


def test_case_5_4(server):
    """Autobahn 5.4: Send text Message fragmented into 2 fragments, octets are
    sent in frame-wise chops. Message is processed."""
    _two_fragments(server, "5.4", "frame")


def test_case_5_5(server):
    """Autobahn 5.5: Send text Message fragmented into 2 fragments, octets are
    sent in octet-wise chops. Message is processed."""
    _two_fragments(server, "5.5", "octet")


# ---------------------------------------------------------------- 5.6 - 5.8


def _ping_between(server, case, mode):
    first, last = fragmented_probe(case)
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [first, build_frame(OP_PING, b"ping payload"), last], mode)
        ws.expect_pong(b"ping payload")
        expect_not_authenticated(ws, case)
        ws.close_handshake(1000)


def test_case_5_6(server):
    """Autobahn 5.6: Send text Message fragmented into 2 fragments, one ping
    with payload in-between. A pong is received, then the message is processed."""
    _ping_between(server, "5.6", "one")


def test_case_5_7(server):
    """Autobahn 5.7: Send text Message fragmented into 2 fragments, one ping
    with payload in-between. Octets are sent in frame-wise chops. A pong is
    received, then the message is processed."""
    _ping_between(server, "5.7", "frame")


def test_case_5_8(server):
    """Autobahn 5.8: Send text Message fragmented into 2 fragments, one ping
    with payload in-between. Octets are sent in octet-wise chops. A pong is
    received, then the message is processed."""
    _ping_between(server, "5.8", "octet")


# ---------------------------------------------------------------- 5.9 - 5.14


def _nothing_to_continue(server, fin, mode):
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(OP_CONT, b"non-continuation payload", fin=fin),
                         build_frame(OP_TEXT, b"Hello, world!")], mode)
        ws.expect_close(1002)


def test_case_5_9(server):
    """Autobahn 5.9: Send unfragmented Text Message after Continuation Frame
    with FIN = true, where there is nothing to continue, sent in one chop.
    The connection is failed immediately (1002)."""
    _nothing_to_continue(server, True, "one")


def test_case_5_10(server):
    """Autobahn 5.10: Send unfragmented Text Message after Continuation Frame
    with FIN = true, where there is nothing to continue, sent in per-frame
    chops. The connection is failed immediately (1002)."""
    _nothing_to_continue(server, True, "frame")


def test_case_5_11(server):
    """Autobahn 5.11: Send unfragmented Text Message after Continuation Frame
    with FIN = true, where there is nothing to continue, sent in octet-wise
    chops. The connection is failed immediately (1002)."""
    _nothing_to_continue(server, True, "octet")


def test_case_5_12(server):
    """Autobahn 5.12: Send unfragmented Text Message after Continuation Frame
    with FIN = false, where there is nothing to continue, sent in one chop.
    The connection is failed immediately (1002)."""
    _nothing_to_continue(server, False, "one")


def test_case_5_13(server):
    """Autobahn 5.13: Send unfragmented Text Message after Continuation Frame
    with FIN = false, where there is nothing to continue, sent in per-frame
    chops. The connection is failed immediately (1002)."""
    _nothing_to_continue(server, False, "frame")


def test_case_5_14(server):
    """Autobahn 5.14: Send unfragmented Text Message after Continuation Frame
    with FIN = false, where there is nothing to continue, sent in octet-wise
    chops. The connection is failed immediately (1002)."""
    _nothing_to_continue(server, False, "octet")


# ---------------------------------------------------------------- 5.15 - 5.18


def test_case_5_15(server):
    """Autobahn 5.15: Send text Message fragmented into 2 fragments, then
    Continuation Frame with FIN = false where there is nothing to continue,
    then unfragmented Text Message, all sent in one chop. The first message is
    processed, then the connection is failed (1002)."""
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, fragmented_probe("5.15") + [build_frame(OP_CONT, b"fragment3", fin=False),
                                                    build_frame(OP_TEXT, b"fragment4")], "one")
        expect_not_authenticated(ws, "5.15")
        ws.expect_close(1002)


def test_case_5_16(server):
    """Autobahn 5.16: Repeated 2x: Continuation Frame with FIN = false (where
    there is nothing to continue), then text Message fragmented into 2
    fragments. The connection is failed immediately (1002)."""
    frames = []
    for _ in range(2):
        frames += [build_frame(OP_CONT, b"fragment1", fin=False), build_frame(OP_TEXT, b"fragment2", fin=False),
                   build_frame(OP_CONT, b"fragment3")]
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, frames, "one")
        ws.expect_close(1002)


def test_case_5_17(server):
    """Autobahn 5.17: Repeated 2x: Continuation Frame with FIN = true (where
    there is nothing to continue), then text Message fragmented into 2
    fragments. The connection is failed immediately (1002)."""
    frames = []
    for _ in range(2):
        frames += [build_frame(OP_CONT, b"fragment1", fin=True), build_frame(OP_TEXT, b"fragment2", fin=False),
                   build_frame(OP_CONT, b"fragment3")]
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, frames, "one")
        ws.expect_close(1002)


def test_case_5_18(server):
    """Autobahn 5.18: Send text Message fragmented into 2 fragments, with both
    frame opcodes set to text, sent in one chop. The connection is failed
    immediately (1002): a new message cannot start inside another."""
    a, b = split(probe_payload("5.18"), 2)
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(OP_TEXT, a, fin=False), build_frame(OP_TEXT, b)], "one")
        ws.expect_close(1002)


# ---------------------------------------------------------------- 5.19 - 5.20


def _five_fragments_two_pings(server, case, mode):
    parts = split(probe_payload(case), 5)
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(OP_TEXT, parts[0], fin=False), build_frame(OP_CONT, parts[1], fin=False),
                         build_frame(OP_PING, b"pongme 1!")], mode)
        # The first ping is answered before the rest of the message exists.
        ws.expect_pong(b"pongme 1!", timeout=1.0)
        send_frames(ws, [build_frame(OP_CONT, parts[2], fin=False), build_frame(OP_CONT, parts[3], fin=False),
                         build_frame(OP_PING, b"pongme 2!"), build_frame(OP_CONT, parts[4])], mode)
        ws.expect_pong(b"pongme 2!")
        expect_not_authenticated(ws, case)
        ws.close_handshake(1000)


def test_case_5_19(server):
    """Autobahn 5.19: A fragmented text message is sent in multiple frames.
    After sending the first 2 frames of the text message, a Ping is sent. Then
    we wait 1s, then we send 2 more text fragments, another Ping and then the
    final text fragment. Everything is legal. The peer immediately answers the
    first Ping before it has received the last text message fragment, pongs
    back the Pings' payload exactly, and processes the message."""
    _five_fragments_two_pings(server, "5.19", "one")


def test_case_5_20(server):
    """Autobahn 5.20: Same as 5.19, but send all frames with SYNC = True
    (frame-wise chops)."""
    _five_fragments_two_pings(server, "5.20", "frame")


# ---------------------------------------------------------------- beyond Autobahn


def test_fragments_of_one_byte_each(server):
    """A probe sent as one fragment per byte is reassembled."""
    data = probe_payload("bytes")
    frames = [build_frame(OP_TEXT, data[:1], fin=False)]
    frames += [build_frame(OP_CONT, data[i:i + 1], fin=False) for i in range(1, len(data) - 1)]
    frames.append(build_frame(OP_CONT, data[-1:]))
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, frames, "one")
        expect_not_authenticated(ws, "bytes")
        ws.close_handshake(1000)


def test_empty_fragments_around_message(server):
    """Empty first and last fragments, the probe in the middle."""
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(OP_TEXT, b"", fin=False), build_frame(OP_CONT, probe_payload("mid"), fin=False),
                         build_frame(OP_CONT, b"")], "one")
        expect_not_authenticated(ws, "mid")
        ws.close_handshake(1000)


def test_two_fragmented_messages_in_a_row(server):
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, fragmented_probe("m1") + fragmented_probe("m2"), "one")
        expect_not_authenticated(ws, "m1")
        expect_not_authenticated(ws, "m2")
        ws.close_handshake(1000)


def test_binary_start_then_text_continuation_1003(server):
    """A fragmented binary message is a binary message: 1003 (at its first
    fragment or at its end; never processed as text)."""
    a, b = split(probe_payload("bin"), 2)
    with RawWebSocket.connect(server.port) as ws:
        send_frames(ws, [build_frame(2, a, fin=False), build_frame(OP_CONT, b)], "one")
        ws.expect_close(1003)
