"""A raw-socket WebSocket client for sending malformed traffic to chatd.

python3-websockets refuses to send broken frames, so the protocol tests speak
RFC 6455 by hand here: the opening handshake is written byte by byte, frames
can carry any opcode, any RSV bits, a mask or none, a length encoded in any of
the three forms (or a declared length that differs from the payload), and can
be written in chops of any size. Frames read back from the server are checked
against what RFC 6455 requires of a server (unmasked, no RSV bits, control
frames short and unfragmented, text in UTF-8).

Every read has a timeout (DEFAULT_TIMEOUT, E2E_TIMEOUT in the environment
overrides it): a server that does not answer fails the test, it never hangs it.

    ws = RawWebSocket.connect(port)               # handshake checked (101, accept key)
    ws.send_frame(OP_TEXT, b"{}", rsv=4)         # any frame
    ws.expect_close(1002)                        # next frame is close 1002, then TCP closes
    ws.close()

When the handshake headers offer permessage-deflate (RFC 7692) and the
server accepts, the response is checked against the offer, ws.deflate holds
the negotiated parameters, send_compressed() sends compressed messages, and
recv_message() inflates the server's compressed ones with the negotiated
window and context-takeover rules.

The last part of the file holds the conventions chatd adds on top of RFC 6455
(JSON text messages, the `not_authenticated` / `invalid_json` replies used as
probes by the Autobahn ports).
"""

import base64
import hashlib
import json
import os
import select
import socket
import struct
import threading
import time
import zlib

DEFAULT_TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "5"))

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
OP_NAMES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class TcpClosed(Exception):
    """The server closed (or reset) the TCP connection while we were reading."""


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()


def new_key():
    """A fresh valid Sec-WebSocket-Key: 16 random bytes in base64."""
    return base64.b64encode(os.urandom(16)).decode()


def handshake_request(path="/", host="127.0.0.1", key=None, headers=None, drop=(),
                      method="GET", version="HTTP/1.1"):
    """Bytes of an opening handshake request.

    `headers` (list of (name, value) or dict) are added after the standard
    ones and override them by name (case-insensitive); a standard header whose
    name is in `drop` is left out."""
    std = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
           ("Sec-WebSocket-Key", key or new_key()), ("Sec-WebSocket-Version", "13")]
    extra = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    overridden = {n.lower() for n, _ in extra} | {d.lower() for d in drop}
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % (n, v) for n, v in std if n.lower() not in overridden]
    lines += ["%s: %s" % (n, v) for n, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode_length(n, form=None):
    """The payload-length bytes of a frame header (without the mask bit).

    form: None = minimal (RFC 6455), 7, 16 or 64 = force that encoding."""
    if form is None:
        form = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    if form == 7:
        assert n <= 127, "7-bit length form holds at most 127"
        return bytes([n])
    if form == 16:
        return bytes([126]) + struct.pack("!H", n)
    if form == 64:
        return bytes([127]) + struct.pack("!Q", n)
    raise ValueError("length form must be 7, 16 or 64")


def mask_bytes(data, key):
    """XOR `data` with the 4-byte masking key (RFC 6455 §5.3)."""
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(opcode, payload=b"", *, fin=True, rsv=0, mask=True, mask_key=None,
                length_form=None, declared_length=None):
    """Bytes of one frame. Anything goes: reserved opcodes, RSV bits (0..7,
    RSV1 = 4), no mask, a forced length encoding, a declared length that is
    not the payload's length."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if declared_length is None else declared_length
    length = bytearray(encode_length(n, length_form))
    if mask:
        length[0] |= 0x80
        key = mask_key if mask_key is not None else os.urandom(4)
        return bytes([b0]) + bytes(length) + key + mask_bytes(payload, key)
    return bytes([b0]) + bytes(length) + payload


def close_payload(code=None, reason=b""):
    """Payload of a close frame: empty, or a 2-byte code and a reason."""
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def deflate_bytes(data, window_bits=15):
    """`data` compressed as one permessage-deflate message (RFC 7692 §7.2.1):
    raw DEFLATE, sync-flushed, without the trailing 00 00 ff ff; a fresh
    compressor, so client_no_context_takeover always holds."""
    if isinstance(data, str):
        data = data.encode()
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(9, window_bits))
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def parse_extensions(value):
    """Sec-WebSocket-Extensions → [(name, {param: value, or True when valueless})]."""
    out = []
    for item in value.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        params = {}
        for p in parts[1:]:
            k, eq, v = p.partition("=")
            params[k.strip()] = v.strip().strip('"') if eq else True
        out.append((parts[0], params))
    return out


DEFLATE_PARAMS = ("server_no_context_takeover", "client_no_context_takeover",
                  "server_max_window_bits", "client_max_window_bits")


def accept_deflate_response(offer, response):
    """Check a server's permessage-deflate response against the client's
    offers (RFC 7692 §7.1) and return its parameters."""
    accepted = parse_extensions(response)
    assert len(accepted) == 1 and accepted[0][0] == "permessage-deflate", \
        "server answered extensions %r to the offer %r" % (response, offer)
    params = accepted[0][1]
    for k, v in params.items():
        assert k in DEFLATE_PARAMS, "unknown permessage-deflate parameter %r in %r" % (k, response)
        if k.endswith("max_window_bits"):
            assert v is not True and v.isdigit() and 8 <= int(v) <= 15, "bad %s in %r" % (k, response)
        else:
            assert v is True, "%s takes no value: %r" % (k, response)
    offers = [p for n, p in parse_extensions(offer) if n == "permessage-deflate"]
    if "client_max_window_bits" in params:
        assert any("client_max_window_bits" in o for o in offers), \
            "client_max_window_bits in the response though no offer had it (RFC 7692 §7.1.2.2): %r" % response
    # Parameters every offer asked of the server must be in the response
    # (RFC 7692 §7.1.1.1 and §7.1.2.1).
    if offers and all("server_no_context_takeover" in o for o in offers):
        assert "server_no_context_takeover" in params, \
            "offer %r asked for server_no_context_takeover, response %r lacks it" % (offer, response)
    limits = [int(o["server_max_window_bits"]) for o in offers
              if o.get("server_max_window_bits") not in (None, True)]
    if offers and len(limits) == len(offers):
        assert "server_max_window_bits" in params and int(params["server_max_window_bits"]) <= max(limits), \
            "offer %r limits server_max_window_bits, response %r does not honour it" % (offer, response)
    return params


class Frame:
    """A frame (or, from recv_message, a reassembled message) from the server."""

    def __init__(self, fin, rsv, opcode, payload, masked=False, compressed=False):
        self.fin, self.rsv, self.opcode, self.payload, self.masked = fin, rsv, opcode, payload, masked
        self.compressed = compressed  # a message that came permessage-deflate compressed

    @property
    def text(self):
        return self.payload.decode("utf-8")

    def json(self):
        return json.loads(self.payload.decode("utf-8"))

    @property
    def close_code(self):
        """Close code, None for an empty close payload (only for close frames)."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:].decode("utf-8")

    def __repr__(self):
        name = OP_NAMES.get(self.opcode, "op%d" % self.opcode)
        if self.opcode == OP_CLOSE and len(self.payload) >= 2:
            return "<close %d %r>" % (self.close_code, self.payload[2:])
        p = self.payload if len(self.payload) <= 200 else self.payload[:200] + b"..."
        return "<%s fin=%d len=%d %r>" % (name, self.fin, len(self.payload), p)


class RawWebSocket:
    """One client connection over a plain blocking socket with timeouts."""

    def __init__(self, sock, buffered=b"", timeout=DEFAULT_TIMEOUT):
        self.sock = sock
        self.buf = bytearray(buffered)
        self.timeout = timeout
        self.tcp_closed = False
        self.reset = False
        self.response_status = None
        self.response_headers = {}
        self._partial = None  # (opcode, bytearray, compressed) of a fragmented message being read
        self.deflate = None   # negotiated permessage-deflate parameters, or None
        self._inflater = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open_tcp(cls, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, source_ip=None, rcvbuf=None):
        """A connected TCP socket with Nagle off (so chops go out as written);
        rcvbuf shrinks the receive buffer (a slow consumer)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source_ip:
            sock.bind((source_ip, 0))
        sock.connect((host, port))
        return sock

    @classmethod
    def connect(cls, port, path="/", *, host="127.0.0.1", headers=None, extra=b"",
                timeout=DEFAULT_TIMEOUT, source_ip=None, expect_status=101, rcvbuf=None):
        """Open a connection and do the opening handshake.

        `extra` bytes are sent in the same write, right after the request
        (pipelined frames). With expect_status=101 (default) the response is
        checked against RFC 6455 §4.2.2; with any other value the status must
        be that one and the object is returned with the HTTP response only."""
        sock = cls.open_tcp(port, host, timeout, source_ip, rcvbuf)
        key = new_key()
        req = handshake_request(path, "%s:%d" % (host, port), key, headers)
        ws = cls(sock, timeout=timeout)
        try:
            sock.sendall(req + extra)
            ws._read_http_response()
        except BaseException:
            sock.close()
            raise
        if ws.response_status != expect_status:
            sock.close()
            raise AssertionError("handshake: expected HTTP %d, got %s %r" % (
                expect_status, ws.response_status, ws.response_headers))
        if expect_status == 101:
            h = ws.response_headers
            problems = []
            if h.get("upgrade", "").lower() != "websocket":
                problems.append("Upgrade: %r" % h.get("upgrade"))
            if "upgrade" not in [t.strip().lower() for t in h.get("connection", "").split(",")]:
                problems.append("Connection: %r" % h.get("connection"))
            if h.get("sec-websocket-accept") != accept_key(key):
                problems.append("Sec-WebSocket-Accept: %r (want %r)" % (
                    h.get("sec-websocket-accept"), accept_key(key)))
            offers = [v for n, v in (headers.items() if isinstance(headers, dict) else headers or [])
                      if n.lower() == "sec-websocket-extensions"]
            if "sec-websocket-extensions" in h:
                if not offers:
                    problems.append("extension negotiated though none was asked: %r" %
                                    h["sec-websocket-extensions"])
                else:
                    try:
                        ws.deflate = accept_deflate_response(", ".join(offers), h["sec-websocket-extensions"])
                    except AssertionError as e:
                        problems.append(str(e))
            if problems:
                sock.close()
                raise AssertionError("bad 101 response: " + "; ".join(problems))
        return ws

    def _read_http_response(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise AssertionError("HTTP response head over 64 KiB")
            self._fill("the HTTP response to the handshake")
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0] == "HTTP/1.1", "status line %r" % lines[0]
        self.response_status = int(parts[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.response_headers[name.strip().lower()] = value.strip()

    # ------------------------------------------------------------------ sending

    def send_raw(self, data, chop=None, delay=0.0):
        """Write bytes, all at once or in chops of `chop` bytes with `delay`
        seconds between them. A write failing because the server already
        closed raises TcpClosed."""
        try:
            if not chop:
                self.sock.sendall(data)
                return
            for i in range(0, len(data), chop):
                self.sock.sendall(data[i:i + chop])
                if delay:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise TcpClosed("write failed: %s" % e) from e

    def send_frame(self, opcode, payload=b"", *, chop=None, delay=0.0, **kw):
        """Build (see build_frame for the options) and send one frame."""
        self.send_raw(build_frame(opcode, payload, **kw), chop, delay)

    def send_text(self, payload, **kw):
        self.send_frame(OP_TEXT, payload, **kw)

    def send_binary(self, payload, **kw):
        self.send_frame(OP_BINARY, payload, **kw)

    def send_ping(self, payload=b"", **kw):
        self.send_frame(OP_PING, payload, **kw)

    def send_pong(self, payload=b"", **kw):
        self.send_frame(OP_PONG, payload, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def send_json(self, obj, **kw):
        self.send_frame(OP_TEXT, json.dumps(obj).encode(), **kw)

    def send_in_background(self, data, chop=None):
        """Write `data` (in chops of `chop` bytes if given) from a thread while
        the caller reads: for payloads the server may refuse before reading
        them all. Write errors are kept in thread.error; join the thread
        before closing."""
        def run():
            try:
                step = chop or len(data) or 1
                for i in range(0, len(data), step):
                    self.sock.sendall(data[i:i + step])
            except OSError as e:
                thread.error = e
        thread = threading.Thread(target=run, daemon=True)
        thread.error = None
        thread.start()
        return thread

    def compressed_frames(self, opcode, payload, *, fragment=None, **kw):
        """Bytes of one compressed message (RSV1 on its first frame), as
        fragments of `fragment` compressed bytes if given; compressed with
        the negotiated client_max_window_bits and a fresh context."""
        bits = self.deflate.get("client_max_window_bits") if self.deflate else None
        data = deflate_bytes(payload, int(bits) if bits not in (None, True) else 15)
        size = fragment or max(len(data), 1)
        pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        return b"".join(build_frame(opcode if i == 0 else OP_CONT, p, fin=(i == len(pieces) - 1),
                                    rsv=4 if i == 0 else 0, **kw) for i, p in enumerate(pieces))

    def send_compressed(self, opcode, payload, *, fragment=None, chop=None, **kw):
        """Send one compressed message (see compressed_frames)."""
        self.send_raw(self.compressed_frames(opcode, payload, fragment=fragment, **kw), chop)

    def _inflate(self, data):
        """Inflate a compressed message from the server with the negotiated
        window; a fresh inflater per message under server_no_context_takeover
        (so a server that keeps its context anyway fails here)."""
        bits = self.deflate.get("server_max_window_bits")
        bits = int(bits) if bits not in (None, True) else 15
        if self._inflater is None or "server_no_context_takeover" in self.deflate:
            self._inflater = zlib.decompressobj(-bits)
        try:
            out = self._inflater.decompress(data + b"\x00\x00\xff\xff")
        except zlib.error as e:
            raise AssertionError("server's compressed message does not inflate with window %d%s: %s" % (
                bits, " and no context takeover" if "server_no_context_takeover" in self.deflate else "", e))
        return out

    # ------------------------------------------------------------------ reading

    def _fill(self, what, timeout=None):
        """Read more bytes into the buffer, or raise TcpClosed / TimeoutError."""
        if self.tcp_closed:
            raise TcpClosed("TCP already closed while waiting for %s" % what)
        t = self.timeout if timeout is None else timeout
        ready, _, _ = select.select([self.sock], [], [], t)
        if not ready:
            raise TimeoutError("server sent nothing within %.1fs while we waited for %s" % (t, what))
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            self.tcp_closed = self.reset = True
            raise TcpClosed("connection reset by the server while waiting for %s" % what)
        if not data:
            self.tcp_closed = True
            raise TcpClosed("server closed TCP while we waited for %s" % what)
        self.buf += data

    def _need(self, n, what, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("incomplete frame from the server after %.1fs (%s)" % (
                    self.timeout, what))
            self._fill(what, left)

    def recv_frame(self, timeout=None):
        """The next frame from the server, checked against RFC 6455 rules for
        server frames. Raises TcpClosed or TimeoutError."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        what = "a frame"
        self._need(2, what, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, what, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, what, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        masked = bool(b1 & 0x80)
        if masked:
            off += 4
        self._need(off + n, what, deadline)
        payload = bytes(self.buf[off:off + n])
        if masked:
            payload = mask_bytes(payload, bytes(self.buf[off - 4:off]))
        del self.buf[:off + n]
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload, masked)
        assert not masked, "server frame is masked (RFC 6455 §5.1): %r" % f
        if self.deflate is not None and f.rsv == 4 and f.opcode in (OP_TEXT, OP_BINARY):
            pass  # RFC 7692 §6: RSV1 marks the first frame of a compressed message
        else:
            assert f.rsv == 0, "server frame has RSV bits %d (RSV1 only on a first data frame, with " \
                "permessage-deflate): %r" % (f.rsv, f)
        assert f.opcode in OP_NAMES, "server frame has reserved opcode %d" % f.opcode
        if f.opcode >= 8:
            assert f.fin and n <= 125, "server control frame fragmented or > 125 bytes: %r" % f
        if f.opcode == OP_CLOSE:
            assert n != 1, "server close frame with a 1-byte payload"
            if n >= 2:
                try:
                    f.close_reason
                except UnicodeDecodeError:
                    raise AssertionError("server close reason is not UTF-8: %r" % f.payload)
        return f

    def recv_message(self, timeout=None, skip_pings=True):
        """The next message: a control frame as received, or a data message
        reassembled from its fragments (control frames between fragments are
        returned as they come). Server pings (heartbeat) are skipped unless
        skip_pings is False."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if f.opcode >= 8:
                if f.opcode == OP_PING and skip_pings:
                    continue
                return f
            if f.opcode == OP_CONT:
                assert self._partial is not None, "server continuation with nothing to continue"
                self._partial[1].extend(f.payload)
            else:
                assert self._partial is None, "server started a message inside another: %r" % f
                self._partial = (f.opcode, bytearray(f.payload), f.rsv == 4)
            if f.fin:
                op, data, compressed = self._partial
                self._partial = None
                if compressed:
                    data = self._inflate(bytes(data))
                msg = Frame(True, 0, op, bytes(data), compressed=compressed)
                if op == OP_TEXT:
                    try:
                        msg.text
                    except UnicodeDecodeError:
                        raise AssertionError("server text message is not UTF-8: %r" % msg)
                return msg

    def recv_json(self, timeout=None):
        """The next message, which must be a text message holding one JSON object."""
        m = self.recv_message(timeout)
        assert m.opcode == OP_TEXT, "expected a JSON text message, got %r" % m
        obj = m.json()
        assert isinstance(obj, dict), "expected a JSON object, got %r" % obj
        return obj

    def expect_pong(self, payload, timeout=None):
        m = self.recv_message(timeout)
        assert m.opcode == OP_PONG, "expected pong %r, got %r" % (payload, m)
        assert m.payload == payload, "pong payload %r, want %r" % (m.payload, payload)

    def expect_close(self, code, timeout=None):
        """The next message must be a close frame carrying `code` (a set of
        codes is accepted too). Then answer it, as RFC 6455 §5.5.1 asks, and
        check that the server closes TCP. Returns the close frame."""
        codes = {code} if isinstance(code, int) else set(code)
        try:
            m = self.recv_message(timeout)
        except TcpClosed as e:
            raise AssertionError("expected close frame %s, but %s" % (sorted(codes), e)) from None
        except TimeoutError as e:
            raise AssertionError("expected close frame %s, but %s" % (sorted(codes), e)) from None
        assert m.opcode == OP_CLOSE, "expected close %s, got %r" % (sorted(codes), m)
        assert m.close_code in codes, "expected close %s, got close %s %r" % (
            sorted(codes), m.close_code, m.payload[2:])
        try:
            self.send_close(m.close_code)
        except (TcpClosed, OSError):
            pass  # the server may already have closed after failing the connection
        self.expect_tcp_close()
        return m

    def expect_tcp_close(self, timeout=None):
        """The server must close TCP within the timeout and send nothing more
        (a reset counts as closed)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.tcp_closed:
            if self.buf:
                raise AssertionError("data after the close frame: %r" % bytes(self.buf[:200]))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("server did not close TCP within %.1fs after the close frame"
                                     % self.timeout)
            try:
                self._fill("TCP close", left)
            except TcpClosed:
                pass
            except TimeoutError:
                pass
        if self.buf:
            raise AssertionError("data after the close frame: %r" % bytes(self.buf[:200]))
        self.close()  # our FIN now: the server need not wait for it to free the slot

    def close_handshake(self, code=1000, reason=b""):
        """Start a clean close: send close(code); the server must answer with
        the same code and close TCP."""
        self.send_close(code, reason)
        m = self.recv_message()
        assert m.opcode == OP_CLOSE, "expected the close answer, got %r" % m
        assert m.close_code == code, "close answer carries %s, want %d" % (m.close_code, code)
        self.expect_tcp_close()
        return m

    def expect_silence(self, duration=0.2):
        """Nothing at all arrives for `duration` seconds (the connection stays open)."""
        try:
            m = self.recv_message(duration, skip_pings=True)
        except TimeoutError:
            return
        raise AssertionError("expected nothing, got %r" % m)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# chatd conventions on top of RFC 6455
#
# chatd speaks one JSON object per text message. Before authentication any
# request but `authenticate` is answered with error `not_authenticated`
# (carrying the request's requestId), and a text message that is not a JSON
# object with error `invalid_json`; both leave the connection open. The
# Autobahn ports use these two replies where Autobahn expects an echo.

def probe_payload(request_id, size=None):
    """A JSON request that chatd answers before authentication with error
    not_authenticated carrying `request_id`; padded with spaces to exactly
    `size` bytes when size is given."""
    body = json.dumps({"type": "ping", "requestId": request_id}).encode()
    if size is not None:
        assert size >= len(body), "probe of %d bytes cannot hold %r" % (size, body)
        body = body + b" " * (size - len(body))
    return body


def expect_not_authenticated(ws, request_id, timeout=None):
    """The next message is chatd's answer to probe_payload(request_id)."""
    obj = ws.recv_json(timeout)
    assert obj.get("type") == "error" and obj.get("code") == "not_authenticated", \
        "expected error not_authenticated for %r, got %r" % (request_id, obj)
    assert obj.get("requestId") == request_id, \
        "error carries requestId %r, want %r" % (obj.get("requestId"), request_id)
    return obj


def expect_invalid_json(ws, timeout=None):
    """The next message is chatd's error for a text message that is not JSON."""
    obj = ws.recv_json(timeout)
    assert obj.get("type") == "error" and obj.get("code") == "invalid_json", \
        "expected error invalid_json, got %r" % obj
    assert isinstance(obj.get("message"), str), "error without a message: %r" % obj
    return obj


def probe(ws, request_id="probe", timeout=None):
    """Send a probe and expect its answer as the very next message: proves
    the connection is open and that nothing else was sent before it."""
    ws.send_frame(OP_TEXT, probe_payload(request_id))
    return expect_not_authenticated(ws, request_id, timeout)
