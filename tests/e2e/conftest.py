"""Harness of the black-box end-to-end tests: real chatd processes over real sockets.

Each server runs the ASan+UBSan build (build/asan/chatd, or $CHATD_BIN_DIR/chatd)
in its own temporary directory (the cwd, so no stray .env is read) with its own
SQLite file, random JWT_SECRET and MESSAGE_ENCRYPTION_KEY, a free port on
127.0.0.1, WORKERS=2 and LOG_LEVEL=debug. Before chatd starts, `chatctl init`
creates the database and the users of the test are added with chatctl, which
stands in for the user service. Stopping sends SIGTERM and asserts that chatd
exits 0 within STOP_TIMEOUT seconds with no sanitizer report on stderr; after
every test the live servers are checked too, so a crash or a sanitizer report
fails the test that caused it (and the module server is restarted for the
next test).

API (import helpers with `from conftest import ...`; tests/e2e is on sys.path):

Fixtures
  server           module-scoped chatd with the default configuration and the
                   users alice, bob, carol; alice and bob follow each other.
  chatd_factory    function-scoped: chatd_factory(env={...}, users=[...],
                   follows=[(a, b)], setup=fn) -> a started Server, stopped
                   (and checked) at the end of the test.

Starting servers yourself (e.g. a module fixture with special limits)
  with chatd(env={"MAX_CONNECTIONS": "3"}, users=["alice"]) as srv: ...

Server (srv)
  srv.port, srv.host, srv.tmpdir, srv.db_path, srv.secret, srv.env
  srv.engine, srv.db_url          "sqlite" or "postgres" (CHATD_TEST_ENGINE), and
                                  the server's DATABASE_URL
  srv.db_query(sql) -> rows       run SQL on the server's database (either engine)
  srv.stored_plaintext(needle)    where the bytes needle appear in the database's
                                  files and cells ([] when nowhere)
  srv.users                       {"alice": "1", ...} username -> id string
  srv.ctl(*args) -> str           run chatctl, return stdout stripped (raises on failure)
  srv.user_add(name, display_name=None, picture=None) -> id
  srv.user_del(user); srv.follow(a, b); srv.unfollow(a, b); srv.block(a, b);
  srv.unblock(a, b); srv.revoke(jti)
  srv.token(user, ttl=None, jti=None) -> JWT minted by chatctl
  srv.sign_jwt(payload, header=None) -> JWT signed here with srv.secret
                                   (payload/header: dict, or raw bytes/str for
                                   malformed JSON)
  srv.http_get(path, headers=None, **kw) -> HttpResponse
  srv.ws_connect(path="/", **kw)  -> awaitable websockets connection
  srv.authed(user, **kw)          -> awaitable Client (see authed)
  srv.stderr_text() -> str         everything chatd wrote on stderr so far
  srv.stop()                      SIGTERM + exit/sanitizer checks (idempotent)
  srv.send_sigterm()              start a shutdown now; a later stop() only waits and checks
  srv.restart()                   stop (checked) and start again on the same database

Plain helpers
  free_port() -> int
  ENGINE                          the engine of this run: CHATD_TEST_ENGINE=sqlite
                                  (default, a file per server) or postgres (a
                                  fresh database per server on the server
                                  CHATD_TEST_POSTGRES_URL names, dropped after)
  pg_url(dbname, base=None) -> str  psql(url, sql) -> rows
  http_get(port, path, headers=None, *, method="GET", version="HTTP/1.1",
           body=b"", timeout=5, source_ip=None) -> HttpResponse
  http_raw(port, data, timeout=5, source_ip=None) -> HttpResponse
                                   send arbitrary request bytes
  HttpResponse: .status, .reason, .headers (lower-case names), .body, .json()
  jwt_encode(header, payload, secret) -> str
  run(coro, timeout=60)            asyncio.run with an overall timeout
  DEFAULT_TIMEOUT                  seconds any single read may wait (E2E_TIMEOUT)

Async helpers (python3-websockets 10.4; call them inside run(...))
  await ws_connect(srv_or_port, path="/", **kw) -> websockets connection
                                   (client pings off; permessage-deflate
                                   offered, as browsers do, compression=None
                                   to not; other kwargs go to websockets.connect)
  await authed(srv, user, *, token=None, after_seq=None, request_id=None,
               path="/ws", **kw) -> Client
       connects, authenticates (token minted with chatctl unless given), checks
       auth_success, and reads up to and including online_users; events in
       between (replay, resumed, resume_failed) are kept in client.replayed.
  await open_session(srv, user, client_class, **same options) -> client_class
       the first half of authed: connects, authenticates, checks auth_success,
       reads nothing more (for helpers that wait differently).
  Client: .ws, .auth (the auth_success object), .user_id, .client_id,
          .online_users (list of ids), .replayed (list)
    await c.send(obj)                          send one JSON object
    await c.recv(timeout=DEFAULT_TIMEOUT)      next message (JSON object)
    await c.request(type, timeout=..., **fields) -> reply
         sends {"type": type, "requestId": <fresh>, **fields} and returns the
         message carrying that requestId; other messages received meanwhile
         are kept for recv()/expect()
    await c.expect(type, timeout=..., **match) -> first message of that type
         whose fields equal `match` (skipped messages stay queued)
    await c.expect_nothing(duration=0.3)       no message arrives meanwhile
    await c.close()
    async with (await authed(srv, "alice")) as c: ...

Raw frames (malformed traffic, exact bytes): wsraw.RawWebSocket, see wsraw.py.

Environment knobs: CHATD_BIN_DIR (binaries, default build/asan), E2E_TIMEOUT
(seconds per read, default 5), E2E_KEEP_TMP=1 (keep each server's directory
with its database and chatd.N.stderr for a post-mortem).
"""

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import string
import subprocess
import tempfile
import time

import pytest
import websockets

from wsraw import DEFAULT_TIMEOUT

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("CHATD_BIN_DIR", os.path.join(ROOT, "build", "asan"))
CHATD = os.path.join(BIN_DIR, "chatd")
CHATCTL = os.path.join(BIN_DIR, "chatctl")

START_TIMEOUT = 15.0  # seconds for /health to answer after exec
STOP_TIMEOUT = 5.0    # seconds for chatd to exit after SIGTERM
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

# Variables chatd reads (protocol §12): never inherited from the caller's
# environment, so a developer's shell cannot change what the tests see.
CONFIG_VARS = (
    "HOST PORT DATABASE_URL REDIS_URL JWT_SECRET JWT_ISSUER JWT_AUDIENCE "
    "MESSAGE_ENCRYPTION_KEY TLS_CERT_FILE TLS_KEY_FILE WORKERS MAX_CONNECTIONS "
    "MAX_CONNECTIONS_PER_IP MAX_CONNECTIONS_PER_USER MAX_FRAME_BYTES MAX_SEND_QUEUE_BYTES "
    "MAX_MESSAGE_LENGTH MAX_GROUP_MEMBERS RATE_LIMIT_MESSAGES RATE_LIMIT_WINDOW_MS "
    "AUTH_TIMEOUT_MS HEARTBEAT_INTERVAL_MS IDLE_TIMEOUT_MS REVOCATION_CHECK_MS "
    "RESUME_WINDOW_MS RESUME_MAX_EVENTS DB_POOL_SIZE PFP_CACHE_MAX_SIZE "
    "PFP_CACHE_DURATION_MS MESSAGE_CACHE_SIZE ALLOWED_ORIGINS LOG_LEVEL LOG_FORMAT "
    "ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS"
).split()

_live_servers = []  # every started, not yet stopped Server


# ---------------------------------------------------------------------------
# Storage engine: scripts/run-tests.sh runs the whole suite once per engine.

ENGINE = os.environ.get("CHATD_TEST_ENGINE", "sqlite")
POSTGRES_URL = os.environ.get("CHATD_TEST_POSTGRES_URL", "")


def pg_url(dbname, base=None):
    """base (default CHATD_TEST_POSTGRES_URL) with its database name replaced."""
    scheme, _, rest = (base or POSTGRES_URL).partition("://")
    hostpart, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return "%s://%s/%s%s" % (scheme, hostpart, dbname, "?" + query if query else "")


def psql(url, sql, timeout=30):
    """Run one SQL command with psql; its rows as lists of str (None for NULL)."""
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-P", "null=\\N",
                        "-F", "\x1f", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("psql %r failed: %s" % (sql[:200], p.stderr.strip()))
    return [[None if v == "\\N" else v for v in line.split("\x1f")]
            for line in p.stdout.splitlines()]


# ---------------------------------------------------------------------------
# Plain helpers

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpResponse:
    def __init__(self, status, reason, headers, body, raw):
        self.status, self.reason, self.headers, self.body, self.raw = status, reason, headers, body, raw

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<HTTP %d %s %r %r>" % (self.status, self.reason, self.headers, self.body[:300])


def _read_response(sock, timeout):
    """Read one HTTP response: the head, then the body by Content-Length or
    chunked encoding, else until the server closes (or, for responses without
    a body such as 101, stop at the head)."""
    deadline = time.monotonic() + timeout
    buf = bytearray()

    def fill():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete HTTP response within %.1fs; got %r" % (timeout, bytes(buf[:500])))
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete HTTP response within %.1fs; got %r" % (timeout, bytes(buf[:500])))
        except ConnectionResetError:
            data = b""
        if data:
            buf.extend(data)
        return bool(data)

    while b"\r\n\r\n" not in buf:
        if not fill():
            raise AssertionError("server closed before a complete HTTP response head: %r" % bytes(buf[:500]))
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, _, tail = lines[0].partition(" ")
    code, _, reason = tail.partition(" ")
    assert version in ("HTTP/1.1", "HTTP/1.0"), "bad status line %r" % lines[0]
    status = int(code)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    body = bytearray(rest)
    if status == 101 or 100 <= status < 200 or status in (204, 304):
        return HttpResponse(status, reason, headers, b"", bytes(buf))
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            before = len(buf)
            if not fill():
                raise AssertionError("server closed after %d of %d body bytes" % (len(body), n))
            body.extend(buf[before:])
        return HttpResponse(status, reason, headers, bytes(body[:n]), bytes(buf))
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            while b"\r\n" not in body:
                before = len(buf)
                if not fill():
                    raise AssertionError("server closed inside a chunked body")
                body.extend(buf[before:])
            size_line, _, body = bytes(body).partition(b"\r\n")
            body = bytearray(body)
            size = int(size_line.split(b";")[0], 16)
            while len(body) < size + 2:
                before = len(buf)
                if not fill():
                    raise AssertionError("server closed inside a chunk")
                body.extend(buf[before:])
            out.extend(body[:size])
            del body[:size + 2]
            if size == 0:
                return HttpResponse(status, reason, headers, bytes(out), bytes(buf))
    # No length: the body ends when the server closes.
    while True:
        before = len(buf)
        if not fill():
            break
        body.extend(buf[before:])
    return HttpResponse(status, reason, headers, bytes(body), bytes(buf))


def http_raw(port, data, timeout=DEFAULT_TIMEOUT, source_ip=None, host="127.0.0.1"):
    """Send arbitrary request bytes on a fresh connection, return the response."""
    with socket.socket() as s:
        s.settimeout(timeout)
        if source_ip:
            s.bind((source_ip, 0))
        s.connect((host, port))
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (431...) before reading everything
        return _read_response(s, timeout)


def http_get(port, path, headers=None, *, method="GET", version="HTTP/1.1", body=b"",
             timeout=DEFAULT_TIMEOUT, source_ip=None, host="127.0.0.1"):
    """One request on a fresh connection (Connection: close unless the caller
    sets Connection). `headers`: dict or list of (name, value)."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {n.lower() for n, _ in hs}
    if "host" not in names:
        hs.insert(0, ("Host", "%s:%d" % (host, port)))
    if "connection" not in names:
        hs.append(("Connection", "close"))
    if body and "content-length" not in names:
        hs.append(("Content-Length", str(len(body))))
    req = "%s %s %s\r\n" % (method, path, version)
    req += "".join("%s: %s\r\n" % (n, v) for n, v in hs) + "\r\n"
    return http_raw(port, req.encode("latin-1") + body, timeout, source_ip, host)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_encode(header, payload, secret):
    """An HS256-signed JWT. header/payload: dict (serialized compactly) or
    raw bytes/str (for malformed JSON); the signature is always HMAC-SHA256."""
    def enc(part):
        if isinstance(part, (dict, list)):
            part = json.dumps(part, separators=(",", ":"))
        if isinstance(part, str):
            part = part.encode()
        return b64url(part)
    signing_input = enc(header) + "." + enc(payload)
    if isinstance(secret, str):
        secret = secret.encode()
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def run(coro, timeout=60):
    """Run a coroutine to completion; fail (never hang) after `timeout` seconds."""
    async def guarded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


# ---------------------------------------------------------------------------
# The server process

class Server:
    """One chatd process with its own directory, database and secrets."""

    def __init__(self, env=None, users=(), follows=(), setup=None):
        self.tmpdir = tempfile.mkdtemp(prefix="chatd-e2e-")
        self.db_path = os.path.join(self.tmpdir, "chat.db")
        self.db_name = None  # the PostgreSQL database this Server created
        self.db_url = (env or {}).get("DATABASE_URL") or "sqlite:" + self.db_path
        if ENGINE == "postgres" and "DATABASE_URL" not in (env or {}):
            if not POSTGRES_URL:
                pytest.fail("CHATD_TEST_ENGINE=postgres needs CHATD_TEST_POSTGRES_URL "
                            "(scripts/pg-test-server.sh start prints one)")
            self.db_name = "chatd_e2e_" + secrets.token_hex(6)
            psql(POSTGRES_URL, "CREATE DATABASE %s" % self.db_name)
            self.db_url = pg_url(self.db_name)
        self.engine = "sqlite" if self.db_url.startswith("sqlite:") else "postgres"
        self.secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))
        self.host = "127.0.0.1"
        self.port = None
        self.users = {}
        self.proc = None
        self.overrides = dict(env or {})
        self._initial_users = list(users)
        self._initial_follows = list(follows)
        self._setup = setup
        self._starts = 0
        self._sigterm_sent = False
        base = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
        base.update({
            "HOST": self.host,
            "DATABASE_URL": self.db_url,
            "JWT_SECRET": self.secret,
            "MESSAGE_ENCRYPTION_KEY": secrets.token_hex(32),
            "WORKERS": "2",
            "LOG_LEVEL": "debug",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        base.update({k: str(v) for k, v in self.overrides.items()})
        self.env = base

    # -- chatctl ----------------------------------------------------------

    def ctl(self, *args, check=True):
        """Run chatctl with this server's DATABASE_URL and JWT_SECRET; stdout."""
        if not os.access(CHATCTL, os.X_OK):
            pytest.fail("%s is missing: build it with `make -f mk/build.mk MODE=asan all`" % CHATCTL)
        p = subprocess.run([CHATCTL] + [str(a) for a in args], cwd=self.tmpdir, env=self.env,
                           capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise AssertionError("chatctl %s failed (exit %d):\n%s%s" % (
                " ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
        for marker in SANITIZER_MARKERS:
            assert marker not in p.stderr, "chatctl %s: sanitizer report:\n%s" % (" ".join(map(str, args)), p.stderr)
        return p.stdout.strip()

    def user_add(self, name, display_name=None, picture=None):
        args = ["user", "add", name]
        if display_name is not None:
            args += ["--display-name", display_name]
        if picture is not None:
            args += ["--picture", picture]
        uid = self.ctl(*args).splitlines()[-1].strip()
        assert uid.isdigit(), "chatctl user add printed %r, not an id" % uid
        self.users[name] = uid
        return uid

    def user_del(self, user):
        self.ctl("user", "del", user)

    def follow(self, a, b):
        self.ctl("follow", a, b)

    def unfollow(self, a, b):
        self.ctl("unfollow", a, b)

    def block(self, a, b):
        self.ctl("block", a, b)

    def unblock(self, a, b):
        self.ctl("unblock", a, b)

    def revoke(self, jti):
        self.ctl("revoke", jti)

    def token(self, user, ttl=None, jti=None):
        args = ["token", user]
        if ttl is not None:
            args += ["--ttl", ttl]
        if jti is not None:
            args += ["--jti", jti]
        tok = self.ctl(*args).splitlines()[-1].strip()
        assert tok.count(".") == 2, "chatctl token printed %r, not a JWT" % tok
        return tok

    def sign_jwt(self, payload, header=None):
        return jwt_encode(header if header is not None else {"alg": "HS256", "typ": "JWT"},
                          payload, self.secret)

    # -- process ----------------------------------------------------------

    def start(self):
        if not os.access(CHATD, os.X_OK):
            pytest.fail("%s is missing: build it with `make -f mk/build.mk MODE=asan all`" % CHATD)
        if self._starts == 0:
            self.ctl("init")
            for u in self._initial_users:  # a name, or (name, display_name, picture)
                if isinstance(u, str):
                    self.user_add(u)
                else:
                    self.user_add(*u)
            for a, b in self._initial_follows:
                self.follow(a, b)
            if self._setup:
                self._setup(self)
        for attempt in range(3):
            self.port = int(self.overrides["PORT"]) if "PORT" in self.overrides else free_port()
            self.env["PORT"] = str(self.port)
            if self._spawn():
                return self
            text = self.stderr_text()
            if "in use" not in text.lower() or "PORT" in self.overrides:
                break
        raise AssertionError("chatd did not come up (exit %s); stderr:\n%s" % (
            self.proc.returncode, self._tail(self.stderr_text(), 80)))

    def _spawn(self):
        """Start the process; True once GET /health answers 200, False if it exited."""
        self._starts += 1
        self.stderr_path = os.path.join(self.tmpdir, "chatd.%d.stderr" % self._starts)
        self.stdout_path = os.path.join(self.tmpdir, "chatd.%d.stdout" % self._starts)
        self._sigterm_sent = False
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([CHATD], cwd=self.tmpdir, env=self.env, stdout=out,
                                         stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        _live_servers.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                _live_servers.remove(self)
                return False
            try:
                if http_get(self.port, "/health", timeout=1).status == 200:
                    return True
            except (OSError, TimeoutError, AssertionError):
                pass
            time.sleep(0.02)
        self._kill()
        raise AssertionError("chatd: GET /health did not answer 200 within %.0fs; stderr:\n%s" % (
            START_TIMEOUT, self._tail(self.stderr_text(), 80)))

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self in _live_servers:
            _live_servers.remove(self)

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    @staticmethod
    def _tail(text, n):
        return "\n".join(text.splitlines()[-n:])

    def sanitizer_report(self):
        """The sanitizer report on stderr, if any ('' when clean)."""
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, text.rfind("\n", 0, max(0, i - 2000)) + 1):][:12000]
        return ""

    def check_alive(self):
        """Fail if the process died or reported a sanitizer error (used after
        every test)."""
        report = self.sanitizer_report()
        if report:
            raise AssertionError("chatd sanitizer report:\n" + report)
        if self.proc.poll() is not None:
            raise AssertionError("chatd died (exit %s); stderr tail:\n%s" % (
                self.proc.returncode, self._tail(self.stderr_text(), 60)))

    def send_sigterm(self):
        """Start a shutdown without waiting for it (stop() then only waits)."""
        self._sigterm_sent = True
        self.proc.send_signal(signal.SIGTERM)

    def stop(self):
        """SIGTERM; chatd must exit 0 within STOP_TIMEOUT with a clean stderr."""
        if self.proc is None or self not in _live_servers:
            return
        _live_servers.remove(self)
        if self.proc.poll() is None:
            if not self._sigterm_sent:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("chatd did not exit within %.0fs of SIGTERM; stderr tail:\n%s" % (
                    STOP_TIMEOUT, self._tail(self.stderr_text(), 60)))
        report = self.sanitizer_report()
        assert not report, "chatd sanitizer report:\n" + report
        assert self.proc.returncode == 0, "chatd exited %s after SIGTERM; stderr tail:\n%s" % (
            self.proc.returncode, self._tail(self.stderr_text(), 60))

    def restart(self):
        """Stop (checked) and start again on the same directory and database."""
        self.stop()
        return self.start()

    def cleanup(self):
        self._kill()
        if self.db_name:
            psql(POSTGRES_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db_name)
            self.db_name = None
        if os.environ.get("E2E_KEEP_TMP") != "1":
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    # -- the database, either engine ---------------------------------------

    def db_query(self, sql):
        """Rows of a query on this server's database: tuples (SQLite values;
        text from psql, None for NULL, on PostgreSQL)."""
        if self.engine == "sqlite":
            con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=5)
            try:
                return [tuple(r) for r in con.execute(sql).fetchall()]
            finally:
                con.close()
        return [tuple(r) for r in psql(self.db_url, sql)]

    def _db_files(self):
        """The files that hold this database: SQLite's file and WAL; for
        PostgreSQL the database's directory and the cluster's WAL (when this
        process may read them)."""
        if self.engine == "sqlite":
            assert os.path.isfile(self.db_path), "no database file at %s" % self.db_path
            return [p for p in (self.db_path, self.db_path + "-wal") if os.path.isfile(p)]
        (data_dir, oid), = psql(self.db_url, "SELECT current_setting('data_directory'), oid "
                                "FROM pg_database WHERE datname = current_database()")
        files = []
        for d in (os.path.join(data_dir, "base", oid), os.path.join(data_dir, "pg_wal")):
            try:
                files += [os.path.join(d, n) for n in os.listdir(d)]
            except OSError:
                pass
        return [p for p in files if os.path.isfile(p) and os.access(p, os.R_OK)]

    def _db_cells_with(self, needle):
        if self.engine == "sqlite":
            found = set()
            for (name,) in self.db_query("SELECT name FROM sqlite_master WHERE type='table'"):
                for row in self.db_query('SELECT * FROM "%s"' % name.replace('"', '""')):
                    for v in row:
                        raw = v.encode() if isinstance(v, str) else v
                        if isinstance(raw, bytes) and needle in raw:
                            found.add("table %s" % name)
            return sorted(found)
        columns = self.db_query(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN "
            "('text', 'bytea', 'character varying', 'json', 'jsonb')")
        checks = ["SELECT '%s.%s' FROM \"%s\" WHERE position(decode('%s', 'hex') IN %s) > 0" % (
            t, c, t, needle.hex(), '"%s"' % c if ty == "bytea" else "convert_to(\"%s\"::text, 'UTF8')" % c)
            for t, c, ty in columns]
        return sorted({r[0] for r in self.db_query(" UNION ".join(checks))}) if checks else []

    def stored_plaintext(self, needle):
        """Where the bytes `needle` appear in what the database keeps: its
        files and every text or binary cell of every table. [] when nowhere."""
        found = []
        for path in self._db_files():
            with open(path, "rb") as f:
                if needle in f.read():
                    found.append(path)
        return found + self._db_cells_with(needle)

    # -- clients ----------------------------------------------------------

    def http_get(self, path, headers=None, **kw):
        return http_get(self.port, path, headers, **kw)

    def ws_connect(self, path="/", **kw):
        return ws_connect(self, path, **kw)

    def authed(self, user, **kw):
        return authed(self, user, **kw)


@contextlib.contextmanager
def chatd(env=None, users=(), follows=(), setup=None):
    """Start a Server, yield it, stop it with the exit/sanitizer checks."""
    srv = Server(env, users, follows, setup)
    try:
        srv.start()
        yield srv
        srv.stop()
    finally:
        srv.cleanup()


# ---------------------------------------------------------------------------
# Async clients (python3-websockets)

def _port_of(target):
    return target.port if isinstance(target, Server) else int(target)


async def ws_connect(target, path="/", **kw):
    """A python3-websockets client connection to chatd (a Server or a port)."""
    kw.setdefault("open_timeout", DEFAULT_TIMEOUT)
    kw.setdefault("close_timeout", 2)
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", 1 << 22)
    return await websockets.connect("ws://127.0.0.1:%d%s" % (_port_of(target), path), **kw)


_request_ids = itertools.count(1)


class Client:
    """A JSON client over a websockets connection; see the module docstring."""

    def __init__(self, ws):
        self.ws = ws
        self.pending = collections.deque()
        self.auth = None
        self.user_id = None
        self.client_id = None
        self.online_users = None
        self.replayed = []

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def _read(self, timeout):
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("no message from chatd within %.1fs" % timeout) from None
        assert isinstance(raw, str), "chatd sent a binary message: %r" % raw[:200]
        obj = json.loads(raw)
        assert isinstance(obj, dict), "chatd sent a JSON value that is not an object: %r" % raw[:200]
        return obj

    async def recv(self, timeout=DEFAULT_TIMEOUT):
        if self.pending:
            return self.pending.popleft()
        return await self._read(timeout)

    async def request(self, type_, timeout=DEFAULT_TIMEOUT, **fields):
        rid = "r%d" % next(_request_ids)
        await self.send(dict({"type": type_, "requestId": rid}, **fields))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no reply to %s (requestId %s) within %.1fs" % (type_, rid, timeout))
            msg = await self._read(left)
            if msg.get("requestId") == rid:
                return msg
            self.pending.append(msg)

    async def expect(self, type_, timeout=DEFAULT_TIMEOUT, **match):
        def ok(m):
            return m.get("type") == type_ and all(m.get(k) == v for k, v in match.items())
        for i, m in enumerate(self.pending):
            if ok(m):
                del self.pending[i]
                return m
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s %r within %.1fs; got %r" % (type_, match, timeout, seen))
            m = await self._read(left)
            if ok(m):
                return m
            seen.append(m)
            self.pending.append(m)

    async def expect_nothing(self, duration=0.3):
        assert not self.pending, "unexpected messages: %r" % list(self.pending)
        try:
            m = await asyncio.wait_for(self.ws.recv(), duration)
        except asyncio.TimeoutError:
            return
        raise AssertionError("expected no message, got %r" % m)

    async def close(self, code=1000):
        await self.ws.close(code)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()


async def open_session(srv, user, client_class, *, token=None, after_seq=None, request_id=None,
                       path="/ws", **kw):
    """Connect, send authenticate for `user` and check its auth_success;
    returns a client_class(ws) with .auth, .user_id and .client_id set and
    nothing read after auth_success."""
    if token is None:
        token = srv.token(user)
    ws = await ws_connect(srv, path, **kw)
    c = client_class(ws)
    msg = {"type": "authenticate", "token": token}
    if after_seq is not None:
        msg["afterSeq"] = after_seq
    if request_id is not None:
        msg["requestId"] = request_id
    await c.send(msg)
    first = await c._read(DEFAULT_TIMEOUT)
    if first.get("type") != "auth_success":
        await ws.close()
        raise AssertionError("authenticate %s: expected auth_success, got %r" % (user, first))
    c.auth = first
    c.user_id = first.get("userId")
    c.client_id = first.get("clientId")
    return c


async def authed(srv, user, *, token=None, after_seq=None, request_id=None, path="/ws", **kw):
    """Connect and authenticate `user` (a name known to srv.users, or any name
    chatctl token accepts); see the module docstring."""
    c = await open_session(srv, user, Client, token=token, after_seq=after_seq,
                           request_id=request_id, path=path, **kw)
    while True:
        m = await c._read(DEFAULT_TIMEOUT)
        if m.get("type") == "online_users":
            c.online_users = m.get("userIds")
            return c
        c.replayed.append(m)


# ---------------------------------------------------------------------------
# Fixtures and hooks

@pytest.fixture(scope="module")
def server():
    """chatd with the default configuration; users alice, bob, carol; alice
    and bob follow each other."""
    with chatd(users=["alice", "bob", "carol"], follows=[("alice", "bob"), ("bob", "alice")]) as srv:
        yield srv


@pytest.fixture
def chatd_factory():
    started = []

    def start(env=None, users=(), follows=(), setup=None):
        srv = Server(env, users, follows, setup)
        started.append(srv)
        return srv.start()

    yield start
    errors = []
    for srv in started:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            srv.cleanup()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(autouse=True)
def _servers_survive_each_test():
    """After every test, fail it if a live chatd crashed or reported a
    sanitizer error; restart a crashed module server for the next tests."""
    yield
    errors = []
    for srv in list(_live_servers):
        try:
            srv.check_alive()
        except AssertionError as e:
            errors.append(str(e))
            srv._kill()
            try:
                srv.start()
            except AssertionError as e2:
                errors.append("restart failed: %s" % e2)
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of each live chatd's stderr to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in _live_servers:
            rep.sections.append(("chatd :%s stderr (tail)" % srv.port, Server._tail(srv.stderr_text(), 40)))
