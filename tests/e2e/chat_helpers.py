"""Helpers shared by the chat-level e2e suites (test_auth, test_lifecycle, test_dm).

They sit on top of conftest.py (python3-websockets clients) and wsraw.py (raw
RFC 6455 sockets) and add what those suites need over and over: minting JWTs
with chosen claims, authenticating a raw socket, checking the shape of ids,
times, UUIDs and message objects (protocol §2, §6), and fresh users so that
tests sharing a module server do not share rate limits or history.
"""

import itertools
import json
import re
import time
import uuid

from conftest import DEFAULT_TIMEOUT, Client, open_session
from wsraw import OP_CLOSE, OP_TEXT, RawWebSocket, TcpClosed

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DIGITS = re.compile(r"^[0-9]+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_names = itertools.count(1)

# Presence traffic (online_users after auth, user_online / user_offline) is not
# what the auth, lifecycle and DM suites test; their clients skip it so that it
# cannot interleave with the replies and events under test.
PRESENCE = ("online_users", "user_online", "user_offline")


# ---------------------------------------------------------------- shapes

def assert_id(value, what="id"):
    """Protocol §2: ids are JSON strings of decimal digits."""
    assert isinstance(value, str) and DIGITS.match(value), "%s must be a digit string, got %r" % (what, value)


def assert_iso_ms(value, what="time"):
    """Protocol §2: ISO-8601 UTC with milliseconds, e.g. 2026-11-29T12:00:00.000Z."""
    assert isinstance(value, str) and ISO_MS.match(value), "%s must be ISO-8601 UTC with ms, got %r" % (what, value)


def assert_uuid(value, what="clientId"):
    assert isinstance(value, str) and UUID.match(value), "%s must be a UUID string, got %r" % (what, value)
    uuid.UUID(value)


def assert_error(msg, code, request_id=None):
    """An error reply {"type":"error","code","message"} (+requestId when asked)."""
    assert msg.get("type") == "error", "expected error %s, got %r" % (code, msg)
    assert msg.get("code") == code, "expected error code %s, got %r" % (code, msg)
    assert isinstance(msg.get("message"), str) and msg["message"], "error without a message: %r" % msg
    if request_id is not None:
        assert msg.get("requestId") == request_id, "error carries requestId %r, want %r" % (
            msg.get("requestId"), request_id)
    return msg


def assert_sender(sender, user_id, username):
    assert isinstance(sender, dict), "sender must be an object: %r" % sender
    for key in ("userId", "username", "displayName", "profilePicture"):
        assert key in sender, "sender lacks %s: %r" % (key, sender)
    assert sender["userId"] == user_id, sender
    assert sender["username"] == username, sender
    for key in ("displayName", "profilePicture"):
        assert sender[key] is None or isinstance(sender[key], str), "sender.%s: %r" % (key, sender)


def assert_dm_message(m, *, sender_id, sender_name, recipient_id, content):
    """Every §6 field of a freshly sent DM, with its type."""
    assert isinstance(m, dict), "message must be an object: %r" % m
    for key in ("messageId", "conversationId", "groupId", "senderId", "sender", "recipientId",
                "content", "clientMessageId", "replyToId", "mentions", "isAnnouncement",
                "createdAt", "editedAt", "deleted", "reactions", "pinned"):
        assert key in m, "message lacks %r: %r" % (key, m)
    assert_id(m["messageId"], "messageId")
    assert_id(m["conversationId"], "conversationId")
    assert m["groupId"] is None, m
    assert m["senderId"] == sender_id, m
    assert_sender(m["sender"], sender_id, sender_name)
    assert m["recipientId"] == recipient_id, m
    assert m["content"] == content, "content %r, want %r" % (m["content"], content)
    assert m["mentions"] == [], m
    assert m["isAnnouncement"] is False, m
    assert_iso_ms(m["createdAt"], "createdAt")
    assert m["editedAt"] is None, m
    assert m["deleted"] is False, m
    assert m["reactions"] == {}, m
    assert m["pinned"] is False, m


# ---------------------------------------------------------------- users and tokens

def fresh_user(srv, prefix="u", **kw):
    """Add a user with a unique name to srv; returns the name (id in srv.users)."""
    name = "%s%d_%d" % (prefix, next(_names), int(time.time() * 1000) % 100000)
    srv.user_add(name, **kw)
    return name


def fresh_pair(srv, follow=True, mutual=False):
    """Two new users; a follows b when follow, and b follows a when mutual."""
    a, b = fresh_user(srv, "a"), fresh_user(srv, "b")
    if follow:
        srv.follow(a, b)
    if mutual:
        srv.follow(b, a)
    return a, b


def claims(srv, user, **over):
    """Valid claims for `user` (a name in srv.users): userId, jti, iat, exp = now + 1 h.
    Keyword overrides replace claims; a value of None removes the claim."""
    now = int(time.time())
    c = {"userId": srv.users[user], "username": user, "jti": str(uuid.uuid4()),
         "iat": now, "exp": now + 3600}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


# ---------------------------------------------------------------- raw sockets

def raw_connect(srv, path="/ws", timeout=DEFAULT_TIMEOUT):
    return RawWebSocket.connect(srv.port, path, timeout=timeout)


def raw_authenticate(srv, token, request_id=None, path="/ws", **extra):
    """Open a raw socket, send authenticate, return (ws, first reply)."""
    ws = raw_connect(srv, path)
    msg = {"type": "authenticate", "token": token}
    if request_id is not None:
        msg["requestId"] = request_id
    msg.update(extra)
    ws.send_json(msg)
    return ws, ws.recv_json()


def raw_sync(ws, request_id="sync"):
    """Send an app-level ping and read up to its pong; returns the JSON messages
    read before it, presence messages (online_users, user_online, user_offline)
    left out. Proves the connection is open and everything sent before was read."""
    ws.send_json({"type": "ping", "requestId": request_id})
    before = []
    while True:
        m = ws.recv_json()
        if m.get("requestId") == request_id:
            assert m.get("type") == "pong", "expected pong for %r, got %r" % (request_id, m)
            return before
        if m.get("type") not in PRESENCE:
            before.append(m)


def raw_authed(srv, user, token=None):
    """A raw socket authenticated as `user`, synced with a ping (so online_users,
    if sent, has been read). Returns (ws, auth_success)."""
    ws, first = raw_authenticate(srv, token or srv.token(user))
    assert first.get("type") == "auth_success", "expected auth_success, got %r" % first
    raw_sync(ws, "authed-sync")
    return ws, first


def expect_auth_error(srv, token, code, request_id="auth-1"):
    """authenticate with `token` → auth_error `code` (with the requestId), then close 4001."""
    ws, reply = raw_authenticate(srv, token, request_id)
    with ws:
        assert reply.get("type") == "auth_error", "expected auth_error %s, got %r" % (code, reply)
        assert reply.get("code") == code, "expected auth_error %s, got %r" % (code, reply)
        assert isinstance(reply.get("message"), str) and reply["message"], reply
        assert reply.get("requestId") == request_id, "auth_error carries requestId %r, want %r" % (
            reply.get("requestId"), request_id)
        ws.expect_close(4001)
    return reply


def read_close_code(ws, timeout=DEFAULT_TIMEOUT):
    """Read (skipping pings and data) until a close frame; returns (code, [data messages]).
    Raises AssertionError if TCP closes or the time runs out first."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no close frame within %.1fs; got %r" % (timeout, seen[-5:]))
        try:
            m = ws.recv_message(left)
        except TcpClosed as e:
            raise AssertionError("TCP closed without a close frame (%s); got %r" % (e, seen[-5:])) from None
        except TimeoutError:
            continue
        if m.opcode == OP_CLOSE:
            return m.close_code, seen
        if m.opcode == OP_TEXT:
            seen.append(json.loads(m.payload))


# ---------------------------------------------------------------- async clients

async def close_code_of(ws, timeout=DEFAULT_TIMEOUT):
    """Wait for a websockets connection to be closed by the server; returns
    (close code, [JSON messages read meanwhile])."""
    import asyncio
    import websockets
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("connection still open after %.1fs; got %r" % (timeout, seen[-5:]))
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            continue
        except websockets.ConnectionClosed:
            return ws.close_code, seen
        seen.append(json.loads(raw))


class ChatClient(Client):
    """conftest.Client that skips presence traffic (PRESENCE) on every read."""

    async def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            m = await Client._read(self, max(deadline - time.monotonic(), 0.001))
            if m.get("type") not in PRESENCE:
                return m

    async def expect_nothing(self, duration=0.3):
        """No non-presence message arrives within `duration` seconds."""
        import asyncio
        assert not self.pending, "unexpected messages: %r" % list(self.pending)
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except asyncio.TimeoutError:
                return
            m = json.loads(raw)
            if m.get("type") not in PRESENCE:
                raise AssertionError("expected no message, got %r" % m)

    async def sync(self):
        """An app-level ping round trip: everything the server sent before
        its pong is queued (for recv/expect) when this returns."""
        reply = await self.request("ping")
        assert reply.get("type") == "pong", reply
        return reply


async def login(srv, user, *, token=None, request_id=None, path="/ws", **kw):
    """Connect and authenticate `user`; check auth_success; then sync with a
    ping so any presence traffic is behind us. Unlike conftest.authed it does
    not wait for online_users (test_auth checks that one on its own)."""
    c = await open_session(srv, user, ChatClient, token=token, request_id=request_id, path=path,
                           **kw)
    await c.sync()
    return c
