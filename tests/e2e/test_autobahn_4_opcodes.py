"""Autobahn|Testsuite category 4 (reserved opcodes), ported to chatd.

Opcodes 3-7 (non-control) and 11-15 (control) are reserved: a frame carrying
one fails the connection with 1002 (RFC 6455 §5.2), and a ping sent after it
is never answered. The answer to an earlier good text message ("Hello,
world!" → error invalid_json) comes first.
"""

from wsraw import OP_PING, OP_TEXT, RawWebSocket, build_frame, expect_invalid_json

HELLO = b"Hello, world!"

CASES = [  # (case, opcode, payload, text message and ping around it, description)
    ("4.1.1", 3, b"", False, "Send frame with reserved non-control Opcode = 3."),
    ("4.1.2", 4, b"reserved opcode payload", False,
     "Send frame with reserved non-control Opcode = 4 and non-empty payload."),
    ("4.1.3", 5, b"", True,
     "Send small text message, then send frame with reserved non-control Opcode = 5, then send Ping."),
    ("4.1.4", 6, b"reserved opcode payload", True,
     "Send small text message, then send frame with reserved non-control Opcode = 6 "
     "and non-empty payload, then send Ping."),
    ("4.1.5", 7, b"reserved opcode payload", True,
     "Send small text message, then send frame with reserved non-control Opcode = 7 "
     "and non-empty payload, then send Ping."),
    ("4.2.1", 11, b"", False, "Send frame with reserved control Opcode = 11."),
    ("4.2.2", 12, b"reserved opcode payload", False,
     "Send frame with reserved control Opcode = 12 and non-empty payload."),
    ("4.2.3", 13, b"", True,
     "Send small text message, then send frame with reserved control Opcode = 13, then send Ping."),
    ("4.2.4", 14, b"reserved opcode payload", True,
     "Send small text message, then send frame with reserved control Opcode = 14 "
     "and non-empty payload, then send Ping."),
    ("4.2.5", 15, b"reserved opcode payload", True,
     "Send small text message, then send frame with reserved control Opcode = 15 "
     "and non-empty payload, then send Ping."),
]


def _make(case, opcode, payload, surrounded, description):
    def test(server):
        with RawWebSocket.connect(server.port) as ws:
            if surrounded:
                data = build_frame(OP_TEXT, HELLO) + build_frame(opcode, payload) + build_frame(OP_PING, HELLO)
                ws.send_raw(data)
                expect_invalid_json(ws)
            else:
                ws.send_frame(opcode, payload)
            ws.expect_close(1002)
    name = "test_case_" + case.replace(".", "_")
    test.__name__ = name
    expectation = ("The answer to the text message is received, then the connection is failed "
                   "immediately (1002), the ping is not answered." if surrounded else
                   "The connection is failed immediately (1002).")
    test.__doc__ = "Autobahn %s: %s\n\n%s" % (case, description, expectation)
    return name, test


for _c in CASES:
    _name, _test = _make(*_c)
    globals()[_name] = _test


def test_reserved_opcode_inside_fragmented_message(server):
    """A reserved control opcode between two fragments of a text message → 1002."""
    with RawWebSocket.connect(server.port) as ws:
        ws.send_frame(OP_TEXT, b'{"type":', fin=False)
        ws.send_frame(11, b"")
        ws.expect_close(1002)
