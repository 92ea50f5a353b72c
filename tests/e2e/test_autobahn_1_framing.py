"""Autobahn|Testsuite category 1 (framing), ported to chatd's rules.

Autobahn expects the server to echo; chatd answers a text message instead:
a probe (a JSON request, padded with spaces to the case's length) gets error
`not_authenticated` carrying its requestId, which shows the whole payload was
received and parsed; a text message too short to hold a probe ('*' bytes, as
in Autobahn) gets error `invalid_json`. Binary messages close with 1003.
After each case the client closes with 1000 and expects the echo.
"""

import pytest

from wsraw import (OP_BINARY, OP_TEXT, RawWebSocket, build_frame, expect_invalid_json,
                   expect_not_authenticated, probe, probe_payload)

TEXT_CASES = [  # (case, payload length, chop size or None, Autobahn description)
    ("1.1.1", 0, None, "Send text message with payload 0."),
    ("1.1.2", 125, None, "Send text message message with payload of length 125."),
    ("1.1.3", 126, None, "Send text message message with payload of length 126."),
    ("1.1.4", 127, None, "Send text message message with payload of length 127."),
    ("1.1.5", 128, None, "Send text message message with payload of length 128."),
    ("1.1.6", 65535, None, "Send text message message with payload of length 65535."),
    ("1.1.7", 65536, None, "Send text message message with payload of length 65536."),
    ("1.1.8", 65536, 997, "Send text message message with payload of length 65536. "
                          "Sent out data in chops of 997 octets."),
]

BINARY_CASES = [
    ("1.2.1", 0, None, "Send binary message with payload 0."),
    ("1.2.2", 125, None, "Send binary message message with payload of length 125."),
    ("1.2.3", 126, None, "Send binary message message with payload of length 126."),
    ("1.2.4", 127, None, "Send binary message message with payload of length 127."),
    ("1.2.5", 128, None, "Send binary message message with payload of length 128."),
    ("1.2.6", 65535, None, "Send binary message message with payload of length 65535."),
    ("1.2.7", 65536, None, "Send binary message message with payload of length 65536."),
    ("1.2.8", 65536, 997, "Send binary message message with payload of length 65536. "
                          "Sent out data in chops of 997 octets."),
]


def text_payload(case, size):
    """A probe padded to `size` bytes, or '*' * size when a probe does not fit."""
    if size >= len(probe_payload(case)):
        return probe_payload(case, size)
    return b"*" * size


def _text_case(case, size, chop, description):
    def test(server):
        payload = text_payload(case, size)
        assert len(payload) == size
        with RawWebSocket.connect(server.port) as ws:
            ws.send_frame(OP_TEXT, payload, chop=chop)
            if payload.startswith(b"{"):
                expect_not_authenticated(ws, case)
            else:
                expect_invalid_json(ws)
            probe(ws)
            ws.close_handshake(1000)
    test.__name__ = "test_case_" + case.replace(".", "_")
    test.__doc__ = "Autobahn %s: %s\n\nchatd: the text message is accepted and answered." % (case, description)
    return test


def _binary_case(case, size, chop, description):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_frame(OP_BINARY, b"\xfe" * size, chop=chop)
            ws.expect_close(1003)
    test.__name__ = "test_case_" + case.replace(".", "_")
    test.__doc__ = "Autobahn %s: %s\n\nchatd: a binary frame closes with 1003." % (case, description)
    return test


for _c in TEXT_CASES:
    globals()["test_case_" + _c[0].replace(".", "_")] = _text_case(*_c)
for _c in BINARY_CASES:
    globals()["test_case_" + _c[0].replace(".", "_")] = _binary_case(*_c)


# ---------------------------------------------------------------- beyond Autobahn


def test_unmasked_client_frame_1002(server):
    """RFC 6455 §5.1: a server MUST close when a client frame is not masked → 1002."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, probe_payload("unmasked"), mask=False)
        ws.expect_close(1002)


def test_unmasked_empty_frame_1002(server):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, b"", mask=False)
        ws.expect_close(1002)


def test_unmasked_frame_after_good_ones_1002(server):
    with RawWebSocket.connect(server.port) as ws:
        probe(ws, "masked")
        ws.send_frame(OP_TEXT, probe_payload("unmasked"), mask=False)
        ws.expect_close(1002)


@pytest.mark.parametrize("form", [16, 64], ids=["16bit", "64bit"])
@pytest.mark.parametrize("size", [0, 5, 125], ids=lambda n: "len%d" % n)
def test_wider_length_encoding_is_read_right(server, form, size):
    """A length written in a wider form than needed must not be misread: the
    frame either is processed (answer to the probe) or fails with 1002, never
    a desync of the stream."""
    payload = text_payload("wide", size) if size else b""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, payload, length_form=form)
        m = ws.recv_message()
        if m.opcode == 8:
            assert m.close_code == 1002, m
            return
        obj = m.json()
        want = "invalid_json" if not payload.startswith(b"{") else "not_authenticated"
        assert obj.get("code") == want, obj
        probe(ws)
        ws.close_handshake(1000)


def test_64bit_length_with_msb_set_fails(server):
    """RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"", declared_length=1 << 63, length_form=64) + b"x" * 16)
        ws.expect_close({1002, 1009})


def test_text_frame_in_masked_chops_of_one_byte(server):
    """The whole frame, header included, written one byte at a time."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, probe_payload("bytewise", 300), chop=1)
        expect_not_authenticated(ws, "bytewise")
        ws.close_handshake(1000)


def test_text_frame_with_zero_mask_key(server):
    """A zero masking key is a valid mask."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, probe_payload("zeromask"), mask_key=b"\0\0\0\0")
        expect_not_authenticated(ws, "zeromask")
        ws.close_handshake(1000)


@pytest.mark.parametrize("payload", [b"[]", b"123", b'"str"', b"null", b"{", b'{"type":"ping"} {}', b"nope"],
                         ids=["array", "number", "string", "null", "truncated", "two-objects", "word"])
def test_text_not_one_json_object_is_invalid_json(server, payload):
    """Protocol §2: a text message that is not one JSON object → error
    invalid_json, and the connection stays open."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, payload)
        expect_invalid_json(ws)
        probe(ws)
        ws.close_handshake(1000)
