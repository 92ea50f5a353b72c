"""Autobahn|Testsuite categories 12 and 13 (permessage-deflate, RFC 7692), ported to chatd.

Protocol §1: permessage-deflate is offered when the client asks for it. The
limits apply to messages after inflation: a compressed message that inflates
to more than MAX_FRAME_BYTES (65536) closes with 1009, however small it is
on the wire.

Autobahn sends 1000 compressed messages per case from five data sets and
expects echoes. Here each case sends COUNT messages (scaled down; timing is
not checked) and expects chatd's answer to each: JSON text (12.1, 13.x) is a
probe carrying a "pad" field of JSON-like text, answered with error
not_authenticated carrying its requestId; HTML text (12.4) is answered with
error invalid_json; the binary data sets (12.2 Lena bitmap, 12.3 Faust
as binary, 12.5 PDF) close with 1003 (1009 allowed when over the limit).
Messages over MAX_FRAME_BYTES (the 131072-byte sizes) close with 1009.
Autobahn's data files are not shipped; payloads of the same kind and size
are generated. Group numbers follow Autobahn's reports (12.1 JSON, 12.2 Lena,
12.3 Faust, 12.4 HTML, 12.5 PDF).

13.x use the JSON data with the offers of Autobahn's cases 13.1 - 13.7. A
server may decline an offer it cannot honour (RFC 7692 §7.1; zlib cannot
deflate with an 8-bit window), except that the plain offer must be accepted.
"""

import json
import random
import zlib

import pytest

from conftest import run, ws_connect
from wsraw import (OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RawWebSocket, build_frame, deflate_bytes,
                   expect_invalid_json, expect_not_authenticated, probe, probe_payload)

MAX = 65536
COUNT = 10

# (payload length, auto-fragment size), Autobahn's MSG_SIZES order
MSG_SIZES = [(16, 0), (64, 0), (256, 0), (1024, 0), (4096, 0), (8192, 0), (16384, 0), (32768, 0),
             (65536, 0), (131072, 0), (8192, 256), (16384, 256), (32768, 256), (65536, 256),
             (131072, 256), (131072, 1024), (131072, 4096), (131072, 32768)]

DEFAULT_OFFER = "permessage-deflate; client_no_context_takeover; client_max_window_bits"

WORDS = ("chat message hello world user group online typing reaction pinned the quick brown fox "
         "jumps over lazy dog alpha beta gamma delta conversation unread").split()


def filler(n, seed):
    """n bytes of word-like ASCII text (compressible, like real text)."""
    rnd = random.Random(seed)
    out = []
    size = 0
    while size < n:
        w = rnd.choice(WORDS) + " "
        out.append(w)
        size += len(w)
    return "".join(out)[:n].encode()


def json_message(rid, size):
    """A probe of exactly `size` bytes carrying a "pad" of text, or plain
    text when a probe does not fit (answered with invalid_json)."""
    head = b'{"type":"ping","requestId":"' + rid.encode() + b'","pad":"'
    tail = b'"}'
    if size < len(head) + len(tail):
        return filler(size, rid)
    return head + filler(size - len(head) - len(tail), rid) + tail


def html_message(rid, size):
    head, tail = b"<html><body><p>", b"</p></body></html>"
    if size < len(head) + len(tail):
        return filler(size, rid)
    return head + filler(size - len(head) - len(tail), rid) + tail


def binary_message(rid, size):
    rnd = random.Random(rid)
    block = bytes(rnd.getrandbits(8) for _ in range(min(size, 4096)))
    return (block * (size // 4096 + 1))[:size]


def connect_deflate(port, offer=DEFAULT_OFFER, required=True):
    ws = RawWebSocket.connect(port, headers=[("Sec-WebSocket-Extensions", offer)])
    if required:
        assert ws.deflate is not None, "server declined permessage-deflate offer %r" % offer
    return ws


def message_bytes(ws, opcode, payload, frag):
    """Compressed when negotiated, else plain; fragmented by `frag` bytes of wire payload."""
    if ws.deflate is not None:
        return ws.compressed_frames(opcode, payload, fragment=frag or None)
    size = frag or max(len(payload), 1)
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    return b"".join(build_frame(opcode if i == 0 else OP_CONT, p, fin=(i == len(pieces) - 1))
                    for i, p in enumerate(pieces))


def send_refused(ws, data, codes):
    """Send from a thread (the server may stop reading) and expect a close."""
    t = ws.send_in_background(data)
    try:
        ws.expect_close(codes)
    finally:
        t.join(10)


def run_text_case(server, case, size, frag, make, offer=DEFAULT_OFFER, required=True):
    with connect_deflate(server.port, offer, required) as ws:
        for i in range(COUNT if size <= MAX else 1):
            rid = "%s#%d" % (case, i)
            payload = make(rid, size)
            assert len(payload) == size
            if size > MAX:
                send_refused(ws, message_bytes(ws, OP_TEXT, payload, frag), 1009)
                return
            ws.send_raw(message_bytes(ws, OP_TEXT, payload, frag))
            if payload.startswith(b'{"type"'):
                expect_not_authenticated(ws, rid)
            else:
                expect_invalid_json(ws)
        ws.close_handshake(1000)


def run_binary_case(server, case, size, frag):
    payload = binary_message(case, size)
    assert len(payload) == size
    with connect_deflate(server.port) as ws:
        send_refused(ws, message_bytes(ws, OP_BINARY, payload, frag),
                     1003 if size <= MAX else {1003, 1009})


# ---------------------------------------------------------------- 12.x

DATA_SETS = [  # (group, description, kind)
    (1, "Large JSON data file (utf8)", "json"),
    (2, "Lena Picture, Bitmap 512x512 bw (binary)", "binary"),
    (3, "Human readable text, Goethe's Faust I (German) (binary)", "binary"),
    (4, "Large HTML file (utf8)", "html"),
    (5, "A larger PDF (binary)", "binary"),
]


def _case12(group, title, kind, i, size, frag):
    case = "12.%d.%d" % (group, i)

    def test(server):
        if kind == "binary":
            run_binary_case(server, case, size, frag)
        else:
            run_text_case(server, case, size, frag, json_message if kind == "json" else html_message)
    outcome = ("close 1003" if kind == "binary" else "close 1009" if size > MAX else
               "each answered (%s)" % ("not_authenticated" if kind == "json" and size >= 64 else "invalid_json"))
    test.__name__ = "test_case_" + case.replace(".", "_")
    test.__doc__ = ("Autobahn %s (%s): Send %d compressed messages each of payload size %d, auto-fragment "
                    "to %d octets. Use default permessage-deflate offer. chatd: %s (scaled to %d messages)."
                    % (case, title, 1000, size, frag, outcome, COUNT))
    return test


for _group, _title, _kind in DATA_SETS:
    for _i, (_size, _frag) in enumerate(MSG_SIZES, start=1):
        _t = _case12(_group, _title, _kind, _i, _size, _frag)
        globals()[_t.__name__] = _t


# ---------------------------------------------------------------- 13.x

OFFERS = [  # (group, offer, may the server decline it?)
    (1, DEFAULT_OFFER, False),
    (2, DEFAULT_OFFER + "; server_no_context_takeover", False),
    (3, DEFAULT_OFFER + "; server_max_window_bits=8", True),
    (4, DEFAULT_OFFER + "; server_max_window_bits=15", False),
    (5, DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=8", True),
    (6, DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=15", False),
    (7, ", ".join([DEFAULT_OFFER + "; server_no_context_takeover; server_max_window_bits=8",
                   DEFAULT_OFFER + "; server_no_context_takeover", DEFAULT_OFFER]), False),
]


def _case13(group, offer, may_decline, i, size, frag):
    case = "13.%d.%d" % (group, i)

    def test(server):
        run_text_case(server, case, size, frag, json_message, offer, required=not may_decline)
    test.__name__ = "test_case_" + case.replace(".", "_")
    test.__doc__ = ("Autobahn %s: Send %d compressed messages each of payload size %d, auto-fragment to %d "
                    "octets. Use permessage-deflate offer %r. chatd: %s (scaled to %d messages)%s."
                    % (case, 1000, size, frag, offer, "close 1009" if size > MAX else "each answered", COUNT,
                       "; the server may decline this offer" if may_decline else ""))
    return test


for _group, _offer, _may in OFFERS:
    for _i, (_size, _frag) in enumerate(MSG_SIZES, start=1):
        _t = _case13(_group, _offer, _may, _i, _size, _frag)
        globals()[_t.__name__] = _t


# ---------------------------------------------------------------- negotiation (beyond Autobahn)


def test_deflate_negotiated_on_plain_offer(server):
    with connect_deflate(server.port, "permessage-deflate") as ws:
        probe(ws)
        ws.close_handshake(1000)


@pytest.mark.parametrize("offer", [
    "permessage-deflate; foo=1",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=0",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
], ids=["unknown-param", "window-7", "window-16", "client-window-0", "flag-with-value", "duplicate-param"])
def test_invalid_deflate_offer_declined(server, offer):
    """RFC 7692 §7.1: an offer with an unknown or invalid parameter is declined
    (101 without the extension), not accepted and not an error."""
    with RawWebSocket.connect(server.port, headers=[("Sec-WebSocket-Extensions", offer)]) as ws:
        assert ws.deflate is None
        assert "sec-websocket-extensions" not in ws.response_headers, ws.response_headers
        probe(ws)
        ws.close_handshake(1000)


def test_invalid_offer_then_valid_offer_takes_the_valid_one(server):
    offer = "permessage-deflate; foo=1, permessage-deflate"
    with connect_deflate(server.port, offer) as ws:
        probe(ws)
        ws.close_handshake(1000)


def test_unknown_extension_ignored(server):
    with RawWebSocket.connect(server.port, headers=[("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")]) as ws:
        assert "sec-websocket-extensions" not in ws.response_headers, ws.response_headers
        probe(ws)
        ws.close_handshake(1000)


# ---------------------------------------------------------------- limits after inflation (beyond Autobahn)


def test_compressed_exactly_max_accepted(server):
    with connect_deflate(server.port) as ws:
        ws.send_compressed(OP_TEXT, probe_payload("max", MAX))
        expect_not_authenticated(ws, "max")
        ws.close_handshake(1000)


def test_compressed_inflating_to_max_plus_one_1009(server):
    with connect_deflate(server.port) as ws:
        send_refused(ws, ws.compressed_frames(OP_TEXT, probe_payload("max+1", MAX + 1)), 1009)


def test_compressed_bomb_16mib_1009(server):
    """16 MiB of spaces compress to ~16 KiB: refused once inflation passes the
    limit, without inflating it all."""
    with connect_deflate(server.port) as ws:
        send_refused(ws, ws.compressed_frames(OP_TEXT, b"{" + b" " * (16 << 20) + b"}"), 1009)


def test_compressed_bomb_in_fragments_1009(server):
    with connect_deflate(server.port) as ws:
        send_refused(ws, ws.compressed_frames(OP_TEXT, b"{" + b" " * (4 << 20) + b"}", fragment=512), 1009)


# ---------------------------------------------------------------- framing with deflate (beyond Autobahn)


def test_uncompressed_message_on_deflate_connection(server):
    """Compression is per message: RSV1 clear means a plain message."""
    with connect_deflate(server.port) as ws:
        ws.send_frame(OP_TEXT, probe_payload("plain"))
        expect_not_authenticated(ws, "plain")
        ws.send_compressed(OP_TEXT, probe_payload("packed"))
        expect_not_authenticated(ws, "packed")
        ws.close_handshake(1000)


def test_rsv1_on_control_frame_1002(server):
    """RFC 7692 §6.1: RSV1 is not allowed on control frames."""
    with connect_deflate(server.port) as ws:
        ws.send_frame(OP_PING, b"x", rsv=4)
        ws.expect_close(1002)


def test_rsv1_on_continuation_frame_1002(server):
    """RFC 7692 §6.1: RSV1 only on the first frame of a message."""
    data = deflate_bytes(probe_payload("cont"))
    with connect_deflate(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, data[:5], fin=False, rsv=4) + build_frame(OP_CONT, data[5:], rsv=4))
        ws.expect_close(1002)


@pytest.mark.parametrize("rsv", [2, 1, 6], ids=["rsv2", "rsv3", "rsv1+rsv2"])
def test_other_rsv_bits_still_1002_with_deflate(server, rsv):
    with connect_deflate(server.port) as ws:
        ws.send_frame(OP_TEXT, probe_payload("x"), rsv=rsv)
        ws.expect_close(1002)


def test_compressed_invalid_utf8_1007(server):
    with connect_deflate(server.port) as ws:
        ws.send_compressed(OP_TEXT, b'{"type":"ping","x":"\xce\xba\xed\xa0\x80"}')
        ws.expect_close(1007)


def test_compressed_binary_1003(server):
    with connect_deflate(server.port) as ws:
        ws.send_compressed(OP_BINARY, b"\x00\x01\x02" * 100)
        ws.expect_close(1003)


def test_corrupt_deflate_data_fails(server):
    """Data that does not inflate fails the connection (RFC 7692 §6.2); the
    code is not fixed by the RFCs: 1007 (bad payload) or 1002."""
    with connect_deflate(server.port) as ws:
        ws.send_frame(OP_TEXT, b"\xff\xff\xff\xff\xff\xff\xff\xff", rsv=4)
        ws.expect_close({1002, 1007})


def test_client_context_takeover(server):
    """Without client_no_context_takeover in the response, the client may
    keep its compression context across messages: the server keeps its
    inflate context too."""
    offer = "permessage-deflate; client_max_window_bits"
    with connect_deflate(server.port, offer) as ws:
        bits = ws.deflate.get("client_max_window_bits")
        bits = int(bits) if bits not in (None, True) else 15
        shared = "client_no_context_takeover" not in ws.deflate
        comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(9, bits))
        for i in range(5):
            if not shared:
                comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(9, bits))
            data = comp.compress(json_message("ctx%d" % i, 2000)) + comp.flush(zlib.Z_SYNC_FLUSH)
            ws.send_frame(OP_TEXT, data[:-4], rsv=4)
            expect_not_authenticated(ws, "ctx%d" % i)
        ws.close_handshake(1000)


def test_python_websockets_negotiates_deflate(server):
    """An independent client (python3-websockets, default offer) gets
    permessage-deflate and a large compressible message goes through."""
    async def go():
        ws = await ws_connect(server, "/ws")
        names = [type(e).__name__ for e in ws.extensions]
        assert any("Deflate" in n for n in names), names
        await ws.send(json_message("py", 60000).decode())
        reply = json.loads(await ws.recv())
        assert reply.get("code") == "not_authenticated" and reply.get("requestId") == "py", reply
        await ws.close()
    run(go())


@pytest.mark.parametrize("offer", [
    "permessage-deflate",
    "permessage-deflate; server_max_window_bits=9",
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
], ids=["plain", "server-window-9", "server-window-12", "no-context-takeover"])
def test_server_compressed_replies_honour_negotiation(server, offer):
    """Large replies (new_message, messages) come compressed and inflate with
    the negotiated server window and context-takeover rule (wsraw inflates
    with exactly those, so a server that overreaches fails here). Sending
    big messages without compressing them would make the extension useless,
    so at least one big reply must come compressed."""
    with connect_deflate(server.port, offer) as ws:
        ws.send_compressed(OP_TEXT, json.dumps({"type": "authenticate", "token": server.token("alice"),
                                                "requestId": "auth"}))
        m = ws.recv_json()
        assert m.get("type") == "auth_success", m
        big = []
        for i in range(3):
            rid = "dm-%s-%d" % (offer[-4:], i)
            ws.send_compressed(OP_TEXT, json.dumps({"type": "send_private_message", "requestId": rid,
                                                    "recipientId": server.users["bob"],
                                                    "content": filler(3000, rid).decode()}))
            while True:
                m = ws.recv_message()
                if m.opcode == OP_TEXT and m.json().get("requestId") == rid:
                    break
            assert m.json().get("type") == "new_message", m
            big.append(m)
        ws.send_compressed(OP_TEXT, json.dumps({"type": "get_messages", "requestId": "hist",
                                                "withUserId": server.users["bob"]}))
        while True:
            m = ws.recv_message()
            if m.opcode == OP_TEXT and m.json().get("requestId") == "hist":
                break
        assert m.json().get("type") == "messages", m
        big.append(m)
        assert any(x.compressed for x in big), "no reply of over 3 KB came compressed: nothing was checked"
        ws.close_handshake(1000)
