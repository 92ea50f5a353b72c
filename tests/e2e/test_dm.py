"""Direct messages end to end (protocol §5 rules and check order, §6 message
object, §7 send_private_message / get_messages / get_user_profile, rate limit,
idempotent send, §8 durability, §11 content encrypted at rest).

The module server runs WORKERS=2; tests that send use fresh users so that
they do not share rate-limit windows or conversations. The rate-limit tests
run on their own server with RATE_LIMIT_MESSAGES=2.
"""

import asyncio
import time
import uuid

import pytest

from chat_helpers import (assert_dm_message, assert_error, fresh_pair, fresh_user, login)
from conftest import chatd, run

MAX_LEN = 5000  # MAX_MESSAGE_LENGTH default


@pytest.fixture(scope="module")
def dm():
    with chatd(env={"WORKERS": "2"}, users=["alice", "bob", "carol"],
               follows=[("alice", "bob"), ("bob", "alice")]) as s:
        yield s


async def send_dm(c, to_id, content, **fields):
    return await c.request("send_private_message", recipientId=to_id, content=content, **fields)


async def send_ok(c, to_id, content, **fields):
    r = await send_dm(c, to_id, content, **fields)
    assert r.get("type") == "new_message", "send_private_message failed: %r" % r
    return r["message"]


async def history(c, **sel):
    r = await c.request("get_messages", **sel)
    assert r.get("type") == "messages", "get_messages %r: %r" % (sel, r)
    return r


async def close_all(*cs):
    for c in cs:
        await c.close()


# ---------------------------------------------------------------- happy path


def test_send_fans_out_to_every_connection(dm):
    """Sender and recipient hold 3 connections each (WORKERS=2, so they spread
    over both loops): the requesting connection gets new_message with its
    requestId; the sender's other connections and all the recipient's get the
    same event without requestId; a third user online gets nothing."""
    a, b = fresh_pair(dm, mutual=True)
    outsider = fresh_user(dm)

    async def go():
        ac = [await login(dm, a) for _ in range(3)]
        bc = [await login(dm, b) for _ in range(3)]
        oc = await login(dm, outsider)
        cmid = "c-" + uuid.uuid4().hex
        reply = await send_dm(ac[0], dm.users[b], "Hi!", clientMessageId=cmid)
        assert reply.get("type") == "new_message", reply
        assert "duplicate" not in reply or reply["duplicate"] is False, reply
        msg = reply["message"]
        assert_dm_message(msg, sender_id=dm.users[a], sender_name=a, recipient_id=dm.users[b], content="Hi!")
        assert msg["clientMessageId"] == cmid, msg
        assert msg["replyToId"] is None, msg
        for c in ac[1:] + bc:
            ev = await c.expect("new_message")
            assert "requestId" not in ev, "event to another connection carries a requestId: %r" % ev
            assert ev["message"] == msg, "event differs from the reply:\n%r\n%r" % (ev["message"], msg)
        for c in ac + bc + [oc]:
            await c.expect_nothing(0.2)
        await close_all(*ac, *bc, oc)
    run(go())


def test_message_object_fields_and_sender_profile(dm):
    """§6 fields and types; sender carries the profile (displayName, profilePicture)."""
    a = fresh_user(dm, "pa", display_name="Alice Liddell", picture="https://example.com/a.png")
    b = fresh_user(dm)
    dm.follow(a, b)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        m = await send_ok(ca, dm.users[b], "fields")
        assert_dm_message(m, sender_id=dm.users[a], sender_name=a, recipient_id=dm.users[b], content="fields")
        assert m["sender"]["displayName"] == "Alice Liddell", m["sender"]
        assert m["sender"]["profilePicture"] == "https://example.com/a.png", m["sender"]
        assert m["clientMessageId"] is None, m
        ev = await cb.expect("new_message")
        assert ev["message"] == m
        # Both directions use the same conversation.
        dm.follow(b, a)
        back = await send_ok(cb, dm.users[a], "back")
        assert back["conversationId"] == m["conversationId"], (back, m)
        assert back["senderId"] == dm.users[b] and back["recipientId"] == dm.users[a], back
        assert int(back["messageId"]) != int(m["messageId"])
        await close_all(ca, cb)
    run(go())


UNICODE = [
    "😀🎉👍🏽 emoji",
    "👨‍👩‍👧‍👦 family ZWJ",
    "中文字符，日本語のテキスト，한국어",
    "e\u0301 a\u0308 combining marks Z\u0351\u0300\u0301",
    "مرحبا עברית RTL",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral",
    "quotes \" \\ / \b\f\n\r\t and \u2028\u2029 separators",
    "\ufeffBOM first",
    "a backslash before u0000, not a NUL: \\u0000 \\\\\\u0000",
]


def test_unicode_round_trips(dm):
    """Content comes back byte-for-byte in the reply, the event and the history."""
    a, b = fresh_pair(dm)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        sent = []
        for text in UNICODE:
            m = await send_ok(ca, dm.users[b], text)
            assert m["content"] == text, (m["content"], text)
            ev = await cb.expect("new_message")
            assert ev["message"]["content"] == text, (ev["message"]["content"], text)
            sent.append(m)
        h = await history(cb, withUserId=dm.users[a])
        assert [m["content"] for m in h["messages"]] == UNICODE
        await close_all(ca, cb)
    run(go())


def test_max_length_in_code_points(dm):
    """Exactly MAX_MESSAGE_LENGTH code points of 4-byte emoji (20,000 bytes) are
    accepted; one more is content_too_long; nothing is delivered for it."""
    a, b = fresh_pair(dm)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        ok = "😀" * MAX_LEN
        m = await send_ok(ca, dm.users[b], ok)
        assert m["content"] == ok, len(m["content"])
        assert (await cb.expect("new_message"))["message"]["content"] == ok
        r = await send_dm(ca, dm.users[b], ok + "😀")
        assert_error(r, "content_too_long", r.get("requestId"))
        r = await send_dm(ca, dm.users[b], "a" * (MAX_LEN + 1))
        assert_error(r, "content_too_long")
        await cb.expect_nothing(0.3)
        h = await history(ca, withUserId=dm.users[b])
        assert [x["messageId"] for x in h["messages"]] == [m["messageId"]]
        await close_all(ca, cb)
    run(go())


# ---------------------------------------------------------------- errors, §5 order


def test_request_validation_errors(dm):
    a, b = fresh_pair(dm)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        bid = dm.users[b]
        cases = [
            ("missing recipientId", dict(content="x")),
            ("missing content", dict(recipientId=bid)),
            ("numeric recipientId", dict(recipientId=int(bid), content="x")),
            ("non-digit recipientId", dict(recipientId="bob", content="x")),
            ("null recipientId", dict(recipientId=None, content="x")),
            ("empty content", dict(recipientId=bid, content="")),
            ("whitespace content", dict(recipientId=bid, content=" \t\n\u3000 ")),
            ("numeric content", dict(recipientId=bid, content=42)),
            ("null content", dict(recipientId=bid, content=None)),
            ("self-DM", dict(recipientId=dm.users[a], content="me")),
            ("long clientMessageId", dict(recipientId=bid, content="x", clientMessageId="c" * 65)),
            ("numeric replyToId", dict(recipientId=bid, content="x", replyToId=1)),
            ("NUL in content", dict(recipientId=bid, content="a\x00b")),
            ("NUL after an escaped backslash", dict(recipientId=bid, content="\\\x00")),
        ]
        for what, fields in cases:
            r = await ca.request("send_private_message", **fields)
            assert r.get("type") == "error" and r.get("code") == "invalid_request", \
                "%s: expected invalid_request, got %r" % (what, r)
            assert_error(r, "invalid_request")
        await cb.expect_nothing(0.3)
        h = await history(ca, withUserId=bid)
        assert h["messages"] == [], h
        await close_all(ca, cb)
    run(go())


def test_unknown_recipient_and_check_order(dm):
    """user_not_found for an unknown recipient; validation comes first
    (invalid_request / content_too_long beat user_not_found), and a self-DM
    with oversize content is content_too_long."""
    a = fresh_user(dm)

    async def go():
        ca = await login(dm, a)
        ghost = "98765432"
        assert_error(await send_dm(ca, ghost, "hello?"), "user_not_found")
        assert_error(await ca.request("send_private_message", recipientId=ghost), "invalid_request")
        assert_error(await send_dm(ca, ghost, "   "), "invalid_request")
        assert_error(await send_dm(ca, ghost, "x" * (MAX_LEN + 1)), "content_too_long")
        assert_error(await send_dm(ca, dm.users[a], "x" * (MAX_LEN + 1)), "content_too_long")
        await close_all(ca)
    run(go())


def test_blocked_both_directions(dm):
    """A block by either side stops DMs both ways with `blocked`, though both follow."""
    a, b = fresh_pair(dm, mutual=True)
    dm.block(a, b)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        assert_error(await send_dm(ca, dm.users[b], "from blocker"), "blocked")
        assert_error(await send_dm(cb, dm.users[a], "to blocker"), "blocked")
        await ca.expect_nothing(0.2)
        await cb.expect_nothing(0.1)
        assert (await history(ca, withUserId=dm.users[b]))["messages"] == []
        await close_all(ca, cb)
    run(go())


def test_not_following(dm):
    """Following is one-way: A follows B, so A → B works and B → A is not_following."""
    a, b = fresh_pair(dm, follow=True)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        assert_error(await send_dm(cb, dm.users[a], "not allowed"), "not_following")
        await ca.expect_nothing(0.2)
        m = await send_ok(ca, dm.users[b], "allowed")
        await cb.expect("new_message")
        h = await history(cb, withUserId=dm.users[a])
        assert [x["messageId"] for x in h["messages"]] == [m["messageId"]]
        await close_all(ca, cb)
    run(go())


def test_blocked_beats_not_following(dm):
    """A pair that is blocked and not following gets `blocked` (§5 order)."""
    a, b = fresh_pair(dm, follow=False)
    dm.block(b, a)

    async def go():
        ca = await login(dm, a)
        assert_error(await send_dm(ca, dm.users[b], "x"), "blocked")
        await close_all(ca)
    run(go())


def test_relationship_changes_while_connected(dm):
    """A block, an unblock and an unfollow written by the user service (chatctl)
    while both are connected take effect within 1 s (§5)."""
    a, b = fresh_pair(dm, mutual=True)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        await send_ok(ca, dm.users[b], "before the block")
        await cb.expect("new_message")
        dm.block(b, a)
        await asyncio.sleep(1.1)
        assert_error(await send_dm(ca, dm.users[b], "after the block"), "blocked")
        assert_error(await send_dm(cb, dm.users[a], "from the blocker"), "blocked")
        await cb.expect_nothing(0.2)
        dm.unblock(b, a)
        await asyncio.sleep(1.1)
        await send_ok(ca, dm.users[b], "after the unblock")
        await cb.expect("new_message")
        dm.unfollow(a, b)
        await asyncio.sleep(1.1)
        assert_error(await send_dm(ca, dm.users[b], "after the unfollow"), "not_following")
        await cb.expect_nothing(0.2)
        h = await history(ca, withUserId=dm.users[b])
        assert [x["content"] for x in h["messages"]] == ["before the block", "after the unblock"], h
        await close_all(ca, cb)
    run(go())


def test_errors_carry_request_id_and_keep_connection(dm):
    """An error reply carries the requestId; a request without one still gets
    its error; the connection stays usable."""
    a = fresh_user(dm)

    async def go():
        ca = await login(dm, a)
        await ca.send({"type": "send_private_message", "recipientId": "98765432", "content": "x"})
        e = await ca.recv()
        assert_error(e, "user_not_found")
        assert "requestId" not in e, e
        r = await ca.request("no_such_type")
        assert_error(r, "unknown_type", r.get("requestId"))
        await ca.send({"requestId": "no-type"})
        assert_error(await ca.expect("error", requestId="no-type"), "invalid_request", "no-type")
        await ca.ws.send("[1,2]")
        assert_error(await ca.recv(), "invalid_json")
        await ca.sync()
        await close_all(ca)
    run(go())


# ---------------------------------------------------------------- idempotent send


def test_duplicate_client_message_id(dm):
    """Resending a clientMessageId returns the stored message (same messageId,
    original content) with duplicate:true; nobody gets it twice; history holds one."""
    a, b = fresh_pair(dm)

    async def go():
        a1, a2 = await login(dm, a), await login(dm, a)
        cb = await login(dm, b)
        cmid = "dup-" + uuid.uuid4().hex
        first = await send_dm(a1, dm.users[b], "once", clientMessageId=cmid)
        assert first.get("type") == "new_message" and not first.get("duplicate"), first
        await cb.expect("new_message")
        await a2.expect("new_message")
        for conn, content in ((a1, "once"), (a2, "changed text")):
            again = await send_dm(conn, dm.users[b], content, clientMessageId=cmid)
            assert again.get("type") == "new_message", again
            assert again.get("duplicate") is True, "resend lacks duplicate:true: %r" % again
            assert again["message"]["messageId"] == first["message"]["messageId"], (again, first)
            assert again["message"]["content"] == "once", again
        await cb.expect_nothing(0.3)
        await a1.expect_nothing(0.05)
        await a2.expect_nothing(0.05)
        h = await history(cb, withUserId=dm.users[a])
        assert [x["messageId"] for x in h["messages"]] == [first["message"]["messageId"]], h
        # Another sender may use the same clientMessageId independently.
        dm.follow(b, a)
        other = await send_dm(cb, dm.users[a], "mine", clientMessageId=cmid)
        assert other.get("type") == "new_message" and not other.get("duplicate"), other
        assert other["message"]["messageId"] != first["message"]["messageId"]
        await close_all(a1, a2, cb)
    run(go())


# ---------------------------------------------------------------- replies


def test_reply_to(dm):
    a, b = fresh_pair(dm, mutual=True)
    c = fresh_user(dm)
    dm.follow(c, a)

    async def go():
        ca, cb, cc = await login(dm, a), await login(dm, b), await login(dm, c)
        root = await send_ok(ca, dm.users[b], "root")
        reply = await send_ok(cb, dm.users[a], "re: root", replyToId=root["messageId"])
        assert reply["replyToId"] == root["messageId"], reply
        ev = await ca.expect("new_message")
        assert ev["message"]["replyToId"] == root["messageId"], ev
        assert_error(await send_dm(cb, dm.users[a], "re: ?", replyToId="98765432"), "not_found")
        # A message of another conversation is not in this one.
        elsewhere = await send_ok(cc, dm.users[a], "c to a")
        assert_error(await send_dm(cb, dm.users[a], "re: other", replyToId=elsewhere["messageId"]),
                     "not_found")
        h = await history(ca, withUserId=dm.users[b])
        assert [x["content"] for x in h["messages"]] == ["root", "re: root"], h
        await close_all(ca, cb, cc)
    run(go())


# ---------------------------------------------------------------- get_messages


def test_get_messages_paging(dm):
    """7 messages, limit 3: pages of 3, 3, 1 with hasMore true, true, false,
    each oldest first; by withUserId and by conversationId; history entries
    equal the delivered objects."""
    a, b = fresh_pair(dm)

    async def go():
        ca, cb = await login(dm, a), await login(dm, b)
        sent = [await send_ok(ca, dm.users[b], "m%d" % i) for i in range(7)]
        ids = [m["messageId"] for m in sent]
        conv = sent[0]["conversationId"]
        assert all(m["conversationId"] == conv for m in sent)
        assert [int(i) for i in ids] == sorted(int(i) for i in ids), ids

        full = await history(cb, withUserId=dm.users[a])
        assert full["conversationId"] == conv, full
        assert full["hasMore"] is False, full
        assert full["messages"] == sent, "history differs from the sent messages"
        assert (await history(ca, conversationId=conv))["messages"] == sent

        pages = []
        before = None
        for sel in (dict(withUserId=dm.users[a]), dict(conversationId=conv)):
            pages = []
            before = None
            while True:
                args = dict(sel, limit=3)
                if before:
                    args["beforeId"] = before
                p = await history(cb, **args)
                assert p["conversationId"] == conv, p
                pages.append(([m["messageId"] for m in p["messages"]], p["hasMore"]))
                if not p["hasMore"] or len(pages) > 5:
                    break
                before = p["messages"][0]["messageId"]
            assert pages == [(ids[4:7], True), (ids[1:4], True), (ids[0:1], False)], pages
        p = await history(ca, conversationId=conv, limit=100)
        assert len(p["messages"]) == 7 and p["hasMore"] is False
        p = await history(ca, conversationId=conv, limit=1)
        assert [m["messageId"] for m in p["messages"]] == ids[6:] and p["hasMore"] is True
        await close_all(ca, cb)
    run(go())


def test_get_messages_errors(dm):
    a, b = fresh_pair(dm)
    c = fresh_user(dm)

    async def go():
        ca, cc = await login(dm, a), await login(dm, c)
        m = await send_ok(ca, dm.users[b], "private")
        conv = m["conversationId"]
        for what, sel in (("limit 0", dict(limit=0)), ("limit 101", dict(limit=101)),
                          ("limit string", dict(limit="5")), ("limit negative", dict(limit=-1)),
                          ("limit fraction", dict(limit=2.5))):
            r = await ca.request("get_messages", conversationId=conv, **sel)
            assert r.get("code") == "invalid_request", "%s: %r" % (what, r)
            assert_error(r, "invalid_request")
        assert_error(await ca.request("get_messages"), "invalid_request")
        assert_error(await ca.request("get_messages", conversationId=int(conv)), "invalid_request")
        assert_error(await ca.request("get_messages", withUserId=int(dm.users[b])), "invalid_request")
        assert_error(await ca.request("get_messages", conversationId=conv, beforeId=int(m["messageId"])),
                     "invalid_request")
        # Not a participant: not_found (no leak of existence).
        assert_error(await cc.request("get_messages", conversationId=conv), "not_found")
        assert_error(await cc.request("get_messages", conversationId="98765432"), "not_found")
        assert_error(await ca.request("get_messages", groupId="1"), "not_found")
        await close_all(ca, cc)
    run(go())


def test_get_messages_with_unknown_user(dm):
    """withUserId naming no user fails the "target exists" check (§5):
    user_not_found (not_found tolerated), not an empty page."""
    a = fresh_user(dm)

    async def go():
        ca = await login(dm, a)
        r = await ca.request("get_messages", withUserId="98765432")
        assert r.get("type") == "error" and r.get("code") in ("user_not_found", "not_found"), r
        await close_all(ca)
    run(go())


def test_get_messages_with_user_no_conversation(dm):
    """withUserId naming an existing user one never talked to: an empty page."""
    a, b = fresh_pair(dm, follow=False)

    async def go():
        ca = await login(dm, a)
        r = await history(ca, withUserId=dm.users[b])
        assert r["messages"] == [] and r["hasMore"] is False, r
        await close_all(ca)
    run(go())


# ---------------------------------------------------------------- get_user_profile


def test_get_user_profile(dm):
    u = fresh_user(dm, "prof", display_name="Profile Person", picture="https://example.com/p.jpg")
    plain = fresh_user(dm)

    async def go():
        c = await login(dm, plain)
        r = await c.request("get_user_profile", userId=dm.users[u])
        assert r.get("type") == "user_profile", r
        assert r.get("user") == {"userId": dm.users[u], "username": u, "displayName": "Profile Person",
                                 "profilePicture": "https://example.com/p.jpg"}, r
        r = await c.request("get_user_profile", userId=dm.users[plain])
        assert r.get("type") == "user_profile", r
        user = r["user"]
        assert set(user) >= {"userId", "username", "displayName", "profilePicture"}, user
        assert user["userId"] == dm.users[plain] and user["username"] == plain, user
        assert_error(await c.request("get_user_profile", userId="98765432"), "user_not_found")
        assert_error(await c.request("get_user_profile", userId=int(dm.users[u])), "invalid_request")
        assert_error(await c.request("get_user_profile"), "invalid_request")
        await close_all(c)
    run(go())


# ---------------------------------------------------------------- storage


def test_encrypted_at_rest(dm):
    """The content of an acknowledged message appears nowhere in the database
    (files, WAL, cells), while it reads back through the protocol."""
    a, b = fresh_pair(dm)
    secret_text = "PLAINTEXT-CANARY-%s-zebra-quartz" % uuid.uuid4().hex

    async def go():
        ca = await login(dm, a)
        m = await send_ok(ca, dm.users[b], secret_text)
        m2 = await send_ok(ca, dm.users[b], secret_text * 20)
        h = await history(ca, withUserId=dm.users[b])
        assert [x["content"] for x in h["messages"]] == [secret_text, secret_text * 20]
        await close_all(ca)
        return m, m2
    run(go())

    needle = secret_text.encode()
    # The database's files (SQLite: file and WAL; PostgreSQL: the database's
    # files and the cluster's WAL) and every text or binary cell.
    assert dm.stored_plaintext(needle[:24]) == [], "plaintext content stored"
    # The message is really in the database (so the check above looked at the right place).
    n = int(dm.db_query("SELECT count(*) FROM private_messages")[0][0])
    assert n >= 2, n


def test_history_survives_restart(dm):
    """Acknowledged messages are in history after a restart with the same ids,
    and a clientMessageId resent after the restart is still a duplicate."""
    a, b = fresh_pair(dm)
    cmid = "persist-" + uuid.uuid4().hex

    async def before():
        ca = await login(dm, a)
        sent = [await send_ok(ca, dm.users[b], "persist %d" % i) for i in range(3)]
        sent.append(await send_ok(ca, dm.users[b], "with cmid", clientMessageId=cmid))
        await close_all(ca)
        return sent
    sent = run(before())

    dm.restart()

    async def after():
        ca, cb = await login(dm, a), await login(dm, b)
        h = await history(cb, withUserId=dm.users[a])
        assert h["messages"] == sent, "history after restart differs:\n%r\n%r" % (h["messages"], sent)
        again = await send_dm(ca, dm.users[b], "with cmid", clientMessageId=cmid)
        assert again.get("type") == "new_message" and again.get("duplicate") is True, again
        assert again["message"]["messageId"] == sent[-1]["messageId"], again
        await cb.expect_nothing(0.3)
        new = await send_ok(ca, dm.users[b], "after restart")
        assert int(new["messageId"]) > int(sent[-1]["messageId"]), (new["messageId"], sent[-1]["messageId"])
        await cb.expect("new_message")
        await close_all(ca, cb)
    run(after())


# ---------------------------------------------------------------- rate limit

RL_WINDOW = 2.0


@pytest.fixture(scope="module")
def rl():
    env = {"RATE_LIMIT_MESSAGES": "2", "RATE_LIMIT_WINDOW_MS": str(int(RL_WINDOW * 1000))}
    with chatd(env=env, users=["alice"]) as s:
        yield s


def test_rate_limited(rl):
    """RATE_LIMIT_MESSAGES=2 shared by the user's connections: the third send in
    the window gets rate_limited with retryAfterMs and is neither delivered nor
    stored; after retryAfterMs a send passes again."""
    a, b = fresh_pair(rl)

    async def go():
        a1, a2, cb = await login(rl, a), await login(rl, a), await login(rl, b)
        await send_ok(a1, rl.users[b], "one")
        t_one = time.monotonic()  # "one" entered the window before this
        await send_ok(a2, rl.users[b], "two")
        r = await send_dm(a1, rl.users[b], "three")
        assert_error(r, "rate_limited", r.get("requestId"))
        retry = r.get("retryAfterMs")
        assert isinstance(retry, int) and not isinstance(retry, bool), "retryAfterMs: %r" % r
        assert 0 < retry <= RL_WINDOW * 1000, r
        assert_error(await send_dm(a2, rl.users[b], "four"), "rate_limited")
        for _ in range(2):
            await cb.expect("new_message")
        await cb.expect_nothing(0.2)
        h = await history(cb, withUserId=rl.users[a])
        assert [x["content"] for x in h["messages"]] == ["one", "two"], h
        # The window slides: once retryAfterMs has passed, a send is allowed again.
        r = await send_dm(a1, rl.users[b], "five")
        assert_error(r, "rate_limited")
        assert 0 < r["retryAfterMs"] <= RL_WINDOW * 1000 - (time.monotonic() - t_one) * 1000 + 50, \
            "retryAfterMs %r does not end with the window" % r
        await asyncio.sleep(r["retryAfterMs"] / 1000.0 + 0.05)
        await send_ok(a1, rl.users[b], "six")
        await cb.expect("new_message")
        await close_all(a1, a2, cb)
    run(go())


def test_duplicates_not_rate_counted(rl):
    """Send 2 (the limit), then resend the first twice: duplicates, not rate_limited;
    a new message is then rate_limited."""
    a, b = fresh_pair(rl)

    async def go():
        ca, cb = await login(rl, a), await login(rl, b)
        m1 = await send_ok(ca, rl.users[b], "one", clientMessageId="k1")
        await send_ok(ca, rl.users[b], "two", clientMessageId="k2")
        for _ in range(2):
            r = await send_dm(ca, rl.users[b], "one", clientMessageId="k1")
            assert r.get("type") == "new_message" and r.get("duplicate") is True, \
                "resent duplicate at the rate limit: %r" % r
            assert r["message"]["messageId"] == m1["messageId"]
        assert_error(await send_dm(ca, rl.users[b], "three", clientMessageId="k3"), "rate_limited")
        for _ in range(2):
            await cb.expect("new_message")
        await cb.expect_nothing(0.2)
        await close_all(ca, cb)
    run(go())


def test_rate_limit_comes_last(rl):
    """At the limit, every earlier check still names its own error (§5 order):
    invalid_request, content_too_long, user_not_found, self-DM, blocked,
    not_following. Rejected sends do not use up the quota."""
    a, b = fresh_pair(rl)
    blocker, stranger = fresh_user(rl), fresh_user(rl)
    rl.follow(a, blocker)
    rl.block(blocker, a)

    async def go():
        ca, cb = await login(rl, a), await login(rl, b)
        # Rejections before the limit is reached do not count.
        for _ in range(3):
            assert_error(await send_dm(ca, rl.users[stranger], "x"), "not_following")
            assert_error(await send_dm(ca, rl.users[blocker], "x"), "blocked")
        await send_ok(ca, rl.users[b], "one")
        await send_ok(ca, rl.users[b], "two")
        assert_error(await send_dm(ca, rl.users[b], "three"), "rate_limited")
        assert_error(await ca.request("send_private_message", recipientId=rl.users[b]), "invalid_request")
        assert_error(await send_dm(ca, rl.users[b], "y" * (MAX_LEN + 1)), "content_too_long")
        assert_error(await send_dm(ca, "98765432", "x"), "user_not_found")
        assert_error(await send_dm(ca, rl.users[a], "x"), "invalid_request")
        assert_error(await send_dm(ca, rl.users[blocker], "x"), "blocked")
        assert_error(await send_dm(ca, rl.users[stranger], "x"), "not_following")
        await close_all(ca, cb)
    run(go())


# ---------------------------------------------------------------- compressed delivery


def test_large_dm_delivered_compressed_to_every_deflate_connection(dm):
    """permessage-deflate on the way out: an event over the compression
    threshold reaches each of the recipient's deflate connections as a
    compressed frame (RSV1) that inflates to the right message — the same
    compressed frame serves all of a loop's connections — and the sender's
    python3-websockets client (deflate negotiated by default) reads its
    compressed ack transparently."""
    from chat_helpers import raw_sync
    from wsraw import OP_TEXT, RawWebSocket

    a, b = fresh_pair(dm, follow=True, mutual=True)
    offer = [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]
    receivers = []
    for _ in range(3):
        ws = RawWebSocket.connect(dm.port, "/ws", headers=offer)
        assert ws.deflate is not None, "deflate not negotiated"
        ws.send_json({"type": "authenticate", "token": dm.token(b)})
        assert ws.recv_json().get("type") == "auth_success"
        raw_sync(ws, "deflate-sync")
        receivers.append(ws)
    content = "compressible chat text " * 100  # 2,300 bytes: well over the threshold

    async def go():
        ca = await login(dm, a)
        assert any("Deflate" in type(e).__name__ for e in ca.ws.extensions), ca.ws.extensions
        ack = await send_dm(ca, dm.users[b], content)
        assert ack.get("type") == "new_message" and ack["message"]["content"] == content, ack
        await ca.ws.close()
        return ack["message"]["messageId"]
    message_id = run(go())
    try:
        for ws in receivers:
            m = ws.recv_message()
            assert m.opcode == OP_TEXT and m.compressed, "expected a compressed text frame, got %r" % m
            event = m.json()
            assert event.get("type") == "new_message", event
            assert event["message"]["messageId"] == message_id, event
            assert event["message"]["content"] == content, event["message"]["content"][:80]
    finally:
        for ws in receivers:
            ws.close()
