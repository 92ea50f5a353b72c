"""Autobahn|Testsuite category 9 (limits and performance), scaled to chatd.

Autobahn sends messages of 64 KiB up to 16 MiB and expects echoes. chatd
refuses any frame, and any fragmented message after reassembly, over
MAX_FRAME_BYTES (65536 here) with 1009 (protocol §1). So each case keeps its
Autobahn sizes and expects what chatd must do with them: at most
MAX_FRAME_BYTES → accepted (a probe padded with spaces is answered with
error not_authenticated carrying its requestId), over → 1009, binary → 1003.
The 9.3 and 9.5 cases are also run scaled down to a message of exactly
MAX_FRAME_BYTES ("_at_limit"), which must be accepted however it is cut.
Timing is not checked (no timing in pass/fail tests); 9.8 (binary round
trips) reduces to 9.2.1 and is left out.
"""

import pytest

from conftest import chatd
from wsraw import (OP_BINARY, OP_CONT, OP_TEXT, RawWebSocket, build_frame, expect_invalid_json,
                   expect_not_authenticated, probe, probe_payload)

MAX = 65536
KIB, MIB = 1 << 10, 1 << 20


@pytest.fixture(scope="module")
def server():
    with chatd(env={"MAX_FRAME_BYTES": str(MAX)}) as srv:
        yield srv


def fragments(opcode, payload, size):
    """`payload` as a fragmented message of `size`-byte fragments (one frame if it fits)."""
    chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    out = []
    for i, c in enumerate(chunks):
        out.append(build_frame(opcode if i == 0 else OP_CONT, c, fin=(i == len(chunks) - 1)))
    return b"".join(out)


def send_refused(ws, data, codes, chop=None):
    """Send `data` from a thread (the server may stop reading it) and expect
    a close with one of `codes`."""
    t = ws.send_in_background(data, chop)
    try:
        ws.expect_close(codes)
    finally:
        t.join(10)


def big_text(size):
    """A text payload of `size` bytes: a probe padded with spaces (valid JSON)."""
    return probe_payload("big", size)


# ---------------------------------------------------------------- 9.1, 9.2: one big frame

SIZES = [(1, 64 * KIB), (2, 256 * KIB), (3, 1 * MIB), (4, 4 * MIB), (5, 8 * MIB), (6, 16 * MIB)]


def _text_message(case, size):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            if size <= MAX:
                ws.send_frame(OP_TEXT, big_text(size))
                expect_not_authenticated(ws, "big", timeout=10)
                ws.close_handshake(1000)
            else:
                send_refused(ws, build_frame(OP_TEXT, big_text(size)), 1009)
    test.__doc__ = ("Autobahn %s: Send text message message with payload of length %d. chatd "
                    "(MAX_FRAME_BYTES=%d): %s." % (case, size, MAX, "accepted" if size <= MAX else "close 1009"))
    return test


def _binary_message(case, size):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            send_refused(ws, build_frame(OP_BINARY, b"\xfe" * size), 1003 if size <= MAX else {1003, 1009})
    test.__doc__ = ("Autobahn %s: Send binary message message with payload of length %d. chatd: close %s."
                    % (case, size, "1003" if size <= MAX else "1003 or 1009"))
    return test


for _n, _size in SIZES:
    globals()["test_case_9_1_%d" % _n] = _text_message("9.1.%d" % _n, _size)
    globals()["test_case_9_2_%d" % _n] = _binary_message("9.2.%d" % _n, _size)

# ---------------------------------------------------------------- 9.3, 9.4: fragmented 4 MiB

FRAGMENT_SIZES = [(1, 64), (2, 256), (3, 1 * KIB), (4, 4 * KIB), (5, 16 * KIB), (6, 64 * KIB),
                  (7, 256 * KIB), (8, 1 * MIB), (9, 4 * MIB)]


def _fragmented_text(case, frag):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            send_refused(ws, fragments(OP_TEXT, big_text(4 * MIB), frag), 1009)
    test.__doc__ = ("Autobahn %s: Send fragmented text message message with message payload of length "
                    "4 * 2**20 (4M). Sent out in fragments of %d. chatd: the message grows over "
                    "MAX_FRAME_BYTES → close 1009." % (case, frag))
    return test


def _fragmented_text_at_limit(case, frag):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_raw(fragments(OP_TEXT, big_text(MAX), frag))
            expect_not_authenticated(ws, "big", timeout=10)
            ws.close_handshake(1000)
    test.__doc__ = ("Autobahn %s scaled: a text message of exactly MAX_FRAME_BYTES sent in fragments "
                    "of %d is reassembled and accepted." % (case, frag))
    return test


def _fragmented_binary(case, frag):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            send_refused(ws, fragments(OP_BINARY, b"\xfe" * (4 * MIB), frag), {1003, 1009})
    test.__doc__ = ("Autobahn %s: Send fragmented binary message message with message payload of length "
                    "4 * 2**20 (4M). Sent out in fragments of %d. chatd: close 1003 (or 1009)." % (case, frag))
    return test


for _n, _frag in FRAGMENT_SIZES:
    globals()["test_case_9_3_%d" % _n] = _fragmented_text("9.3.%d" % _n, _frag)
    globals()["test_case_9_4_%d" % _n] = _fragmented_binary("9.4.%d" % _n, _frag)
    if _frag <= MAX:
        globals()["test_case_9_3_%d_at_limit" % _n] = _fragmented_text_at_limit("9.3.%d" % _n, _frag)

# ---------------------------------------------------------------- 9.5, 9.6: chopped

CHOPS = [(1, 64), (2, 128), (3, 256), (4, 512), (5, 1024), (6, 2048)]


def _chopped_text(case, chop):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            send_refused(ws, build_frame(OP_TEXT, big_text(1 * MIB)), 1009, chop=chop)
    test.__doc__ = ("Autobahn %s: Send text message message with payload of length 1 * 2**20 (1M). "
                    "Sent out data in chops of %d octets. chatd: over MAX_FRAME_BYTES → close 1009."
                    % (case, chop))
    return test


def _chopped_text_at_limit(case, chop):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_frame(OP_TEXT, big_text(MAX), chop=chop)
            expect_not_authenticated(ws, "big", timeout=10)
            ws.close_handshake(1000)
    test.__doc__ = ("Autobahn %s scaled: a text message of exactly MAX_FRAME_BYTES sent in chops of %d "
                    "octets is accepted." % (case, chop))
    return test


def _chopped_binary(case, chop):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_frame(OP_BINARY, b"\xfe" * MAX, chop=chop)
            ws.expect_close(1003)
    test.__doc__ = ("Autobahn %s scaled: Send binary message of MAX_FRAME_BYTES in chops of %d octets. "
                    "chatd: close 1003." % (case, chop))
    return test


for _n, _chop in CHOPS:
    globals()["test_case_9_5_%d" % _n] = _chopped_text("9.5.%d" % _n, _chop)
    globals()["test_case_9_5_%d_at_limit" % _n] = _chopped_text_at_limit("9.5.%d" % _n, _chop)
    globals()["test_case_9_6_%d" % _n] = _chopped_binary("9.6.%d" % _n, _chop)

# ---------------------------------------------------------------- 9.7: many round trips

ROUND_TRIP_SIZES = [(1, 0), (2, 16), (3, 64), (4, 256), (5, 1024), (6, 4096)]


def _round_trips(case, size):
    def test(server):
        rid = "rt"
        with RawWebSocket.connect(server.port) as ws:
            for i in range(1000):
                if size >= len(probe_payload(rid)):
                    ws.send_frame(OP_TEXT, probe_payload(rid, size))
                    expect_not_authenticated(ws, rid)
                else:
                    ws.send_frame(OP_TEXT, b"*" * size)
                    expect_invalid_json(ws)
            ws.close_handshake(1000)
    test.__doc__ = ("Autobahn %s: Send 1000 text messages of payload size %d and wait for the answer "
                    "before sending the next." % (case, size))
    return test


for _n, _size in ROUND_TRIP_SIZES:
    globals()["test_case_9_7_%d" % _n] = _round_trips("9.7.%d" % _n, _size)


# ---------------------------------------------------------------- the limit itself


def test_limit_exactly_max_frame_bytes_accepted(server):
    """A text message of exactly MAX_FRAME_BYTES (JSON padded with spaces) is accepted."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, probe_payload("max", MAX))
        expect_not_authenticated(ws, "max", timeout=10)
        probe(ws)
        ws.close_handshake(1000)


def test_limit_max_plus_one_single_frame_1009(server):
    """One frame of MAX_FRAME_BYTES + 1 → 1009."""
    with RawWebSocket.connect(server.port) as ws:
        send_refused(ws, build_frame(OP_TEXT, probe_payload("max+1", MAX + 1)), 1009)


def test_limit_max_plus_one_two_fragments_1009(server):
    """MAX_FRAME_BYTES + 1 bytes after reassembly of two fragments → 1009."""
    data = probe_payload("max+1", MAX + 1)
    half = len(data) // 2
    with RawWebSocket.connect(server.port) as ws:
        send_refused(ws, build_frame(OP_TEXT, data[:half], fin=False) + build_frame(OP_CONT, data[half:]), 1009)


def test_limit_max_plus_one_many_fragments_1009(server):
    """MAX_FRAME_BYTES + 1 bytes in 1 KiB fragments → 1009."""
    with RawWebSocket.connect(server.port) as ws:
        send_refused(ws, fragments(OP_TEXT, probe_payload("max+1", MAX + 1), 1024), 1009)


def test_limit_max_plus_one_last_fragment_empty_payload_1009(server):
    """A full MAX_FRAME_BYTES fragment followed by a 1-byte last fragment → 1009."""
    data = probe_payload("max+1", MAX + 1)
    with RawWebSocket.connect(server.port) as ws:
        send_refused(ws, build_frame(OP_TEXT, data[:MAX], fin=False) + build_frame(OP_CONT, data[MAX:]), 1009)


def test_limit_oversized_header_fails_before_payload(server):
    """A frame header announcing more than MAX_FRAME_BYTES is refused from the
    header: the server does not wait for (nor buffer) the payload."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"", declared_length=MAX + 1) + b"{")
        ws.expect_close(1009)


def test_limit_oversized_64bit_header_fails_before_payload(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"", declared_length=1 << 40) + b"{")
        ws.expect_close(1009)


def test_limit_burst_of_small_frames_all_answered(server):
    """1000 small probes written in one burst are all answered, in order."""
    n = 1000
    with RawWebSocket.connect(server.port) as ws:
        t = ws.send_in_background(b"".join(build_frame(OP_TEXT, probe_payload("b%d" % i)) for i in range(n)))
        for i in range(n):
            expect_not_authenticated(ws, "b%d" % i)
        t.join(10)
        assert t.error is None, t.error
        ws.close_handshake(1000)


def test_limit_burst_of_mixed_frames_all_answered(server):
    """A burst mixing probes, invalid JSON, pings and fragmented probes."""
    with RawWebSocket.connect(server.port) as ws:
        data = b""
        for i in range(200):
            data += build_frame(OP_TEXT, probe_payload("m%d" % i))
            data += build_frame(OP_TEXT, b"not json")
            data += build_frame(0x9, b"p%d" % i)
            data += fragments(OP_TEXT, probe_payload("f%d" % i), 7)
        t = ws.send_in_background(data)
        for i in range(200):
            expect_not_authenticated(ws, "m%d" % i)
            expect_invalid_json(ws)
            ws.expect_pong(b"p%d" % i)
            expect_not_authenticated(ws, "f%d" % i)
        t.join(10)
        ws.close_handshake(1000)
