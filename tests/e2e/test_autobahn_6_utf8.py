"""Autobahn|Testsuite category 6 (UTF-8 handling), ported to chatd.

Text messages must be valid UTF-8 (RFC 3629: no overlong forms, no
surrogates, nothing above U+10FFFF); an invalid one fails the connection with
1007, checked as the bytes arrive ("fail fast"), even when the invalid
sequence is split across fragments or across the TCP chops of one frame.

Where Autobahn expects the echo of a valid message, chatd's answer is checked
instead: a valid UTF-8 payload that is not JSON gets error invalid_json (and
the connection stays open); 6.2.x wrap the text in a probe (a JSON request
answered with error not_authenticated carrying its requestId), so the answer
also shows the fragments were joined right.

The 6.5 - 6.23 vectors are the Markus Kuhn UTF-8 decoder tests as Autobahn
groups and numbers them (case 6.N.M = item M of group N).
"""

import json

import pytest

from wsraw import (OP_CONT, OP_PING, OP_TEXT, RawWebSocket, build_frame, expect_invalid_json,
                   expect_not_authenticated, probe)

KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # κόσμε
HELLO_UTF8 = "Hello-µ@ßöäüàá-UTF-8!!"


def is_utf8(data):
    try:
        data.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


def utf8_probe(case, text):
    return json.dumps({"type": "ping", "requestId": case, "text": text}, ensure_ascii=False).encode()


# ---------------------------------------------------------------- 6.1 - 6.3


def test_case_6_1_1(server):
    """Autobahn 6.1.1: Send text message of length 0. Accepted (chatd: invalid_json)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, b"")
        expect_invalid_json(ws)
        ws.close_handshake(1000)


def test_case_6_1_2(server):
    """Autobahn 6.1.2: Send fragmented text message, 3 fragments each of length 0.
    Accepted (chatd: invalid_json)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, b"", fin=False)
                    + build_frame(OP_CONT, b""))
        expect_invalid_json(ws)
        ws.close_handshake(1000)


def test_case_6_1_3(server):
    """Autobahn 6.1.3: Send fragmented text message, 3 fragments, first and last
    of length 0, middle non-empty. Accepted (chatd: invalid_json)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, b"middle frame payload", fin=False)
                    + build_frame(OP_CONT, b""))
        expect_invalid_json(ws)
        ws.close_handshake(1000)


def test_case_6_2_1(server):
    """Autobahn 6.2.1: Send a valid UTF-8 text message in one fragment.
    MESSAGE: Hello-µ@ßöäüàá-UTF-8!! (chatd: inside a probe)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, utf8_probe("6.2.1", HELLO_UTF8))
        expect_not_authenticated(ws, "6.2.1")
        ws.close_handshake(1000)


def test_case_6_2_2(server):
    """Autobahn 6.2.2: Send a valid UTF-8 text message in two fragments,
    fragmented on UTF-8 code point boundary."""
    text = utf8_probe("6.2.2", HELLO_UTF8).decode()
    cut = len(text) // 2
    a, b = text[:cut].encode(), text[cut:].encode()
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, a, fin=False) + build_frame(OP_CONT, b))
        expect_not_authenticated(ws, "6.2.2")
        ws.close_handshake(1000)


def _one_octet_fragments(data):
    frames = [build_frame(OP_TEXT, data[:1], fin=False)]
    frames += [build_frame(OP_CONT, data[i:i + 1], fin=False) for i in range(1, len(data) - 1)]
    frames.append(build_frame(OP_CONT, data[-1:]))
    return b"".join(frames)


def test_case_6_2_3(server):
    """Autobahn 6.2.3: Send a valid UTF-8 text message in fragments of 1 octet,
    resulting in frames ending on positions which are not code point ends.
    MESSAGE: Hello-µ@ßöäüàá-UTF-8!! (inside a probe)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(_one_octet_fragments(utf8_probe("6.2.3", HELLO_UTF8)))
        expect_not_authenticated(ws, "6.2.3")
        ws.close_handshake(1000)


def test_case_6_2_4(server):
    """Autobahn 6.2.4: Send a valid UTF-8 text message in fragments of 1 octet,
    resulting in frames ending on positions which are not code point ends.
    MESSAGE: κόσμε (inside a probe)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(_one_octet_fragments(utf8_probe("6.2.4", KOSME.decode())))
        expect_not_authenticated(ws, "6.2.4")
        ws.close_handshake(1000)


INVALID_KOSME = KOSME + b"\xed\xa0\x80" + b"edited"


def test_case_6_3_1(server):
    """Autobahn 6.3.1: Send invalid UTF-8 text message unfragmented.
    MESSAGE: cebae1bdb9cf83cebcceb5eda080656469746564. The connection is
    failed immediately (1007)."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, INVALID_KOSME)
        ws.expect_close(1007)


def test_case_6_3_2(server):
    """Autobahn 6.3.2: Send invalid UTF-8 text message in fragments of 1 octet.
    The connection is failed immediately (1007)."""
    with RawWebSocket.connect(server.port) as ws:
        try:
            ws.send_raw(_one_octet_fragments(INVALID_KOSME))
        except Exception:
            pass
        ws.expect_close(1007)


# ---------------------------------------------------------------- 6.4 fail fast

FAIL_FAST = KOSME + b"\xf4\x90\x80\x80" + b"edited"  # U+110000 in the middle


def _fail_fast_fragments(server, part1, part2):
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, part1, fin=False)
        # A ping between fragments is legal: its pong shows part 1 was accepted.
        ws.send_frame(OP_PING, b"after part 1")
        ws.expect_pong(b"after part 1")
        ws.send_frame(OP_CONT, part2, fin=False)
        # Part 3 is never sent: the server must fail on part 2 alone.
        ws.expect_close(1007)


def _fail_fast_chops(server, part1, part2, part3):
    frame = build_frame(OP_TEXT, part1 + part2 + part3)
    head = len(frame) - len(part1 + part2 + part3)  # 2 header bytes + 4 mask bytes
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(frame[:head + len(part1)])
        ws.expect_silence(0.2)
        ws.send_raw(frame[head + len(part1):head + len(part1) + len(part2)])
        # The rest of the frame is never sent: the server must fail on the bytes it has.
        ws.expect_close(1007)


def test_case_6_4_1(server):
    """Autobahn 6.4.1: Send invalid UTF-8 text message in 3 fragments (frames).
    First frame payload is valid, then wait, then 2nd frame which contains the
    payload making the sequence invalid, then wait, then 3rd frame with rest.
    PART1 = cebae1bdb9cf83cebcceb5, PART2 = f4908080 (0x110000, out of range),
    PART3 = 656469746564. The first frame is accepted; the 2nd frame is
    rejected immediately (fail fast on UTF-8, 1007)."""
    _fail_fast_fragments(server, FAIL_FAST[:11], FAIL_FAST[11:15])


def test_case_6_4_2(server):
    """Autobahn 6.4.2: Same as Case 6.4.1, but in 2nd frame, we send only up to
    and including the octet making the complete payload invalid.
    PART1 = cebae1bdb9cf83cebcceb5f4, PART2 = 90, PART3 = 8080656469746564."""
    _fail_fast_fragments(server, FAIL_FAST[:12], FAIL_FAST[12:13])


def test_case_6_4_3(server):
    """Autobahn 6.4.3: Same as Case 6.4.1, but we send message not in 3 frames,
    but in 3 chops of the same message frame. The first chop is accepted; the
    2nd chop is rejected immediately (fail fast on UTF-8 within a frame, 1007)."""
    _fail_fast_chops(server, FAIL_FAST[:11], FAIL_FAST[11:15], FAIL_FAST[15:])


def test_case_6_4_4(server):
    """Autobahn 6.4.4: Same as Case 6.4.2, but we send message not in 3 frames,
    but in 3 chops of the same message frame (PART2 = 90 only)."""
    _fail_fast_chops(server, FAIL_FAST[:12], FAIL_FAST[12:13], FAIL_FAST[13:])


# ---------------------------------------------------------------- 6.5 - 6.23 (Markus Kuhn)


def kuhn_groups():
    """[(title, [(valid, payload), ...]), ...] in Autobahn's order (6.5 first)."""
    groups = []
    groups.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"), (True, b"hello\xe2\x82\xacworld"),
        (True, b"hello\xf0\xa4\xad\xa2world"), (True, KOSME)]))
    groups.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
                   [(is_utf8(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]))
    groups.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"), (True, b"\xf0\x90\x80\x80")]))
    groups.append(("First possible sequence length 5/6 (invalid codepoints)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    groups.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"), (True, b"\xf4\x8f\xbf\xbf")]))
    groups.append(("Last possible sequence length 4/5/6 (invalid codepoints)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"), (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    groups.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"), (True, b"\xf4\x8f\xbf\xbf"),
        (False, b"\xf4\x90\x80\x80")]))
    groups.append(("Unexpected continuation bytes", [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"), (False, b"\x80\xbf\x80\xbf\x80\xbf"),
        (False, bytes(range(0x80, 0xbf)))]))
    groups.append(("Lonely start characters", [
        (False, b"".join(bytes([i, 0x20]) for i in range(lo, hi)))
        for lo, hi in [(0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd)]]))
    missing_last = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
                    b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    groups.append(("Sequences with last continuation byte missing", [(False, k) for k in missing_last]))
    groups.append(("Concatenation of incomplete sequences", [(False, b"".join(missing_last))]))
    groups.append(("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    groups.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    groups.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    groups.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    groups.append(("Single UTF-16 surrogates", [(False, s) for s in [
        b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf", b"\xed\xb0\x80",
        b"\xed\xbe\x80", b"\xed\xbf\xbf"]]))
    groups.append(("Paired UTF-16 surrogates", [(False, s) for s in [
        b"\xed\xa0\x80\xed\xb0\x80", b"\xed\xa0\x80\xed\xbf\xbf", b"\xed\xad\xbf\xed\xb0\x80",
        b"\xed\xad\xbf\xed\xbf\xbf", b"\xed\xae\x80\xed\xb0\x80", b"\xed\xae\x80\xed\xbf\xbf",
        b"\xed\xaf\xbf\xed\xb0\x80", b"\xed\xaf\xbf\xed\xbf\xbf"]]))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if z1 == 0xf4 and z2 != 0x8f:
                continue  # above U+10FFFF
            for z3 in b"\xbe\xbf":
                zz = bytes([z1, z2, 0xbf, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    nonchars.append((True, zz))
    groups.append(("Non-character code points (valid UTF-8)", nonchars))
    groups.append(("Unicode specials (i.e. replacement char)", [
        (True, b"\xef\xbf" + bytes([c])) for c in range(0xb9, 0xc0)]))
    return groups


def _kuhn_case(case, title, valid, payload):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            ws.send_frame(OP_TEXT, payload)
            if valid:
                expect_invalid_json(ws)
                ws.close_handshake(1000)
            else:
                ws.expect_close(1007)
    test.__name__ = "test_case_" + case.replace(".", "_")
    if valid:
        desc = ("Send a text message with payload which is valid UTF-8 in one fragment. "
                "The message is accepted (chatd: error invalid_json, connection open).")
    else:
        desc = ("Send a text message with payload which is not valid UTF-8 in one fragment. "
                "The connection is failed immediately (1007), since the payload is not valid UTF-8.")
    test.__doc__ = "Autobahn %s (%s): %s\n\nPayload: 0x%s" % (case, title, desc, payload.hex())
    return test


KUHN_CASES = []
for _i, (_title, _items) in enumerate(kuhn_groups(), start=5):
    for _j, (_valid, _payload) in enumerate(_items, start=1):
        assert _valid == is_utf8(_payload), (_i, _j, _payload)  # the table agrees with Python's decoder
        _case = "6.%d.%d" % (_i, _j)
        KUHN_CASES.append((_case, _valid, _payload))
        globals()["test_case_6_%d_%d" % (_i, _j)] = _kuhn_case(_case, _title, _valid, _payload)


# ---------------------------------------------------------------- beyond Autobahn


@pytest.mark.parametrize("case,valid,payload", [c for c in KUHN_CASES if not c[1]], ids=[c[0] for c in KUHN_CASES if not c[1]])
def test_invalid_vector_inside_json_string_1007(server, case, valid, payload):
    """The same invalid vectors inside a JSON string of an otherwise valid
    request: still 1007 (UTF-8 is checked before, not by, the JSON parser)."""
    data = b'{"type":"ping","requestId":"x","text":"' + payload + b'"}'
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, data)
        ws.expect_close(1007)


def test_invalid_utf8_split_across_fragments_at_the_end(server):
    """A message whose last fragment ends in the middle of a code point is
    invalid, even though every fragment up to then was fine."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b'{"type":"ping","text":"', fin=False)
                    + build_frame(OP_CONT, b'"}\xce'))
        ws.expect_close(1007)


def test_valid_code_point_split_across_three_fragments(server):
    data = utf8_probe("split4", "x\U00024B62y")  # a 4-byte code point
    i = data.index(b"\xf0")
    with RawWebSocket.connect(server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, data[:i + 1], fin=False) + build_frame(OP_CONT, data[i + 1:i + 3], fin=False)
                    + build_frame(OP_CONT, data[i + 3:]))
        expect_not_authenticated(ws, "split4")
        probe(ws)
        ws.close_handshake(1000)
