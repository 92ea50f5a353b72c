"""Authentication over a real socket (protocol §3 success/failure/before auth, §4 JWT).

Every refused token gets {"type":"auth_error","code","message"} carrying the
authenticate's requestId, then close 4001. The codes: invalid_token (every
RFC 8725 rejection listed in §4), token_expired (beyond the 30 s leeway),
token_revoked (jti in jwt_revocation, written by chatctl), user_not_found (no
row in users_auth) and too_many_sessions (over MAX_CONNECTIONS_PER_USER).
Accepted tokens get auth_success {userId, username, clientId, expiresAt} and
then online_users.

The module server runs with MAX_CONNECTIONS_PER_USER=2; tests that succeed in
authenticating use fresh users so that no test sees another's sessions.
"""

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone

import pytest

from chat_helpers import (assert_error, assert_iso_ms, assert_uuid, claims, expect_auth_error,
                          fresh_pair, fresh_user, raw_authed, raw_authenticate, raw_connect,
                          raw_sync)
from conftest import DEFAULT_TIMEOUT, b64url, chatd, jwt_encode


@pytest.fixture(scope="module")
def srv():
    with chatd(env={"MAX_CONNECTIONS_PER_USER": "2"}, users=["alice", "bob", "carol"],
               follows=[("alice", "bob"), ("bob", "alice")]) as s:
        yield s


def sign_segments(secret, header_seg, payload_seg, digest=hashlib.sha256):
    """h.p.sig where sig is the HMAC of exactly the given segment text (which
    may hold padding or characters outside base64url)."""
    signing_input = header_seg + "." + payload_seg
    sig = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(sig)


def seg(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


HS256 = {"alg": "HS256", "typ": "JWT"}


def expect_accepted(srv, token, user, request_id="ok-1"):
    """authenticate → auth_success for `user` (with the requestId), then online_users."""
    ws, reply = raw_authenticate(srv, token, request_id)
    with ws:
        assert reply.get("type") == "auth_success", "expected auth_success, got %r" % reply
        assert reply.get("requestId") == request_id, reply
        assert reply.get("userId") == srv.users[user], reply
        assert reply.get("username") == user, reply
        # The session works (online_users, checked in test_auth_success_fields, is skipped).
        raw_sync(ws, "accepted")
    return reply


def parse_iso_ms(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


# ---------------------------------------------------------------- invalid_token


def test_bad_signature(srv):
    """A token signed with another secret is invalid_token."""
    tok = jwt_encode(HS256, claims(srv, "alice"), "another-secret-another-secret-another-secret")
    expect_auth_error(srv, tok, "invalid_token")


def test_signature_of_other_claims(srv):
    """A valid signature moved onto a different payload (bob's id) is invalid_token."""
    good = srv.sign_jwt(claims(srv, "alice")).split(".")
    forged = seg(claims(srv, "bob"))
    expect_auth_error(srv, "%s.%s.%s" % (good[0], forged, good[2]), "invalid_token")


def test_alg_none_empty_signature(srv):
    """alg none with an empty signature (the classic bypass) is invalid_token."""
    tok = seg({"alg": "none", "typ": "JWT"}) + "." + seg(claims(srv, "alice")) + "."
    expect_auth_error(srv, tok, "invalid_token")


@pytest.mark.parametrize("alg", ["none", "hs256", "RS256", "HS384", "", "HS256 "])
def test_alg_not_exactly_hs256(srv, alg):
    """Any alg but exactly HS256 is invalid_token, even with a valid HMAC-SHA256 signature."""
    tok = srv.sign_jwt(claims(srv, "alice"), header={"alg": alg, "typ": "JWT"})
    expect_auth_error(srv, tok, "invalid_token")


def test_alg_hs512_signed_with_hs512(srv):
    """HS512, correctly signed with HMAC-SHA512 and the shared secret, is invalid_token."""
    tok = sign_segments(srv.secret, seg({"alg": "HS512", "typ": "JWT"}), seg(claims(srv, "alice")),
                        hashlib.sha512)
    expect_auth_error(srv, tok, "invalid_token")


def test_alg_missing(srv):
    tok = srv.sign_jwt(claims(srv, "alice"), header={"typ": "JWT"})
    expect_auth_error(srv, tok, "invalid_token")


def test_crit_header(srv):
    """A crit header is invalid_token (RFC 8725 / RFC 7515 §4.1.11)."""
    tok = srv.sign_jwt(claims(srv, "alice"), header={"alg": "HS256", "typ": "JWT", "crit": ["exp"]})
    expect_auth_error(srv, tok, "invalid_token")


def test_duplicate_key_in_header(srv):
    tok = srv.sign_jwt(claims(srv, "alice"), header='{"alg":"HS256","typ":"JWT","alg":"HS256"}')
    expect_auth_error(srv, tok, "invalid_token")


def test_duplicate_key_in_payload(srv):
    """Duplicate userId: the second could name another user; invalid_token."""
    c = claims(srv, "alice")
    body = json.dumps(c, separators=(",", ":"))
    body = body[:-1] + ',"userId":"%s"}' % srv.users["bob"]
    expect_auth_error(srv, srv.sign_jwt(body), "invalid_token")


def _payload_with_url_chars(srv):
    """Claims whose base64url encoding contains '-' or '_' (so a standard-base64
    spelling differs) and whose length is not a multiple of 3 (so padding applies)."""
    for n in range(64):
        c = claims(srv, "alice", pad="\xff\xfe?>" + "~" * n)
        s = seg(c)
        if ("-" in s or "_" in s) and len(s) % 4 != 0:
            return c, s
    raise AssertionError("no payload with '-'/'_' found")


def test_padding_in_payload(srv):
    """A segment with '=' padding is invalid_token (even with a valid signature over it)."""
    _, s = _payload_with_url_chars(srv)
    padded = s + "=" * (-len(s) % 4)
    expect_auth_error(srv, sign_segments(srv.secret, seg(HS256), padded), "invalid_token")


def test_padding_in_signature(srv):
    tok = srv.sign_jwt(claims(srv, "alice"))
    assert len(tok.split(".")[2]) % 4 != 0  # 32 bytes → 43 chars, padding would be '='
    expect_auth_error(srv, tok + "=", "invalid_token")


def test_standard_base64_characters(srv):
    """'+' and '/' (standard base64) instead of '-' and '_' is invalid_token."""
    _, s = _payload_with_url_chars(srv)
    std = s.replace("-", "+").replace("_", "/")
    assert std != s
    expect_auth_error(srv, sign_segments(srv.secret, seg(HS256), std), "invalid_token")


def test_character_outside_alphabet(srv):
    tok = srv.sign_jwt(claims(srv, "alice"))
    h, p, s = tok.split(".")
    expect_auth_error(srv, sign_segments(srv.secret, h, p[:10] + "*" + p[10:]), "invalid_token")


@pytest.mark.parametrize("payload", ['[1,2,3]', '"alice"', '42', 'null', 'true', '{"userId":"1",',
                                     'not json'])
def test_payload_not_an_object(srv, payload):
    expect_auth_error(srv, srv.sign_jwt(payload), "invalid_token")


def test_header_not_an_object(srv):
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice"), header='["HS256"]'), "invalid_token")


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claim_a_string(srv, claim):
    """exp/nbf/iat must be numbers; a numeric string is invalid_token."""
    now = int(time.time())
    c = claims(srv, "alice", **{claim: str(now + 60 if claim == "exp" else now)})
    expect_auth_error(srv, srv.sign_jwt(c), "invalid_token")


@pytest.mark.parametrize("user_id", [True, False, 1.5, [1], {"id": "1"}], ids=repr)
def test_user_id_wrong_type(srv, user_id):
    """userId neither a string nor an integer (a bool, a fraction, an array, an object)."""
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", userId=user_id)), "invalid_token")


def test_two_segments(srv):
    h, p, _ = srv.sign_jwt(claims(srv, "alice")).split(".")
    expect_auth_error(srv, h + "." + p, "invalid_token")


def test_four_segments(srv):
    tok = srv.sign_jwt(claims(srv, "alice"))
    expect_auth_error(srv, tok + "." + tok.split(".")[2], "invalid_token")


def test_one_segment_and_empty(srv):
    expect_auth_error(srv, "abc", "invalid_token", request_id="one")
    expect_auth_error(srv, "", "invalid_token", request_id="empty")
    expect_auth_error(srv, "..", "invalid_token", request_id="dots")


def test_token_over_8_kib(srv):
    """A correctly signed token over 8 KiB is invalid_token (checked before decoding)."""
    tok = srv.sign_jwt(claims(srv, "alice", pad="x" * 7000))
    assert len(tok) > 8192
    expect_auth_error(srv, tok, "invalid_token")


def test_token_just_under_8_kib_accepted(srv):
    """The bound is 8 KiB: a valid token a little shorter is accepted."""
    user = fresh_user(srv)
    base = len(srv.sign_jwt(claims(srv, user, pad="")))
    pad = (8000 - base) * 3 // 4
    tok = srv.sign_jwt(claims(srv, user, pad="x" * pad))
    assert 7800 < len(tok) <= 8192, len(tok)
    expect_accepted(srv, tok, user)


def test_nul_byte(srv):
    """A NUL byte (JSON \\u0000) anywhere in the token is invalid_token."""
    tok = srv.sign_jwt(claims(srv, "alice"))
    expect_auth_error(srv, tok + "\x00", "invalid_token", request_id="nul-end")
    expect_auth_error(srv, tok[:20] + "\x00" + tok[20:], "invalid_token", request_id="nul-mid")


def test_nul_byte_inside_claims(srv):
    """A NUL inside a claim string (userId "1\\u0000") must not be cut short to a
    valid id: refused (invalid_token, or user_not_found as no such id exists), 4001."""
    c = claims(srv, "alice", userId=srv.users["alice"] + "\x00")
    ws, reply = raw_authenticate(srv, srv.sign_jwt(c), "nul-claim")
    with ws:
        assert reply.get("type") == "auth_error", "userId with a NUL accepted: %r" % reply
        assert reply.get("code") in ("invalid_token", "user_not_found"), reply
        ws.expect_close(4001)


def test_missing_jti(srv):
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", jti=None)), "invalid_token")


def test_missing_exp(srv):
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", exp=None)), "invalid_token")


def test_missing_user_id_and_sub(srv):
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", userId=None)), "invalid_token")


def test_nbf_in_future_beyond_leeway(srv):
    now = int(time.time())
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", nbf=now + 90)), "invalid_token")


def test_iat_in_future_beyond_leeway(srv):
    now = int(time.time())
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", iat=now + 90)), "invalid_token")


def test_token_not_a_string(srv):
    """A token field that is not a string (or absent) is refused with auth_error and close 4001."""
    for rid, tok in (("num", 12345), ("obj", {"t": 1}), ("null", None)):
        ws, reply = raw_authenticate(srv, tok, rid)
        with ws:
            assert reply.get("type") == "auth_error", "token %r: expected auth_error, got %r" % (tok, reply)
            assert reply.get("code") == "invalid_token", reply
            assert reply.get("requestId") == rid, reply
            ws.expect_close(4001)


# ---------------------------------------------------------------- token_expired, leeway


def test_expired_31s_ago(srv):
    now = int(time.time())
    expect_auth_error(srv, srv.sign_jwt(claims(srv, "alice", exp=now - 31, iat=now - 3600)),
                      "token_expired")


def test_expired_token_from_chatctl(srv):
    expect_auth_error(srv, srv.token("alice", ttl=-120), "token_expired")


def test_expired_20s_ago_accepted_by_leeway(srv):
    user = fresh_user(srv)
    now = int(time.time())
    expect_accepted(srv, srv.sign_jwt(claims(srv, user, exp=now - 20, iat=now - 3600)), user)


def test_nbf_and_iat_within_leeway_accepted(srv):
    user = fresh_user(srv)
    now = int(time.time())
    expect_accepted(srv, srv.sign_jwt(claims(srv, user, nbf=now + 20, iat=now + 20)), user)


def test_kid_jku_x5u_ignored(srv):
    """kid, jku and x5u are allowed in the header and never used."""
    user = fresh_user(srv)
    header = dict(HS256, kid="k1", jku="http://127.0.0.1:1/jwks", x5u="http://127.0.0.1:1/x5u")
    expect_accepted(srv, srv.sign_jwt(claims(srv, user), header=header), user)


# ---------------------------------------------------------------- revoked, unknown user


def test_revoked_jti(srv):
    user = fresh_user(srv)
    jti = "revoked-" + uuid.uuid4().hex
    tok = srv.token(user, jti=jti)
    expect_accepted(srv, tok, user, request_id="before-revoke")
    srv.revoke(jti)
    expect_auth_error(srv, tok, "token_revoked")
    # Another token of the same user still works.
    expect_accepted(srv, srv.token(user), user, request_id="other-jti")


def test_deleted_user(srv):
    user = fresh_user(srv)
    tok = srv.token(user)
    srv.user_del(user)
    expect_auth_error(srv, tok, "user_not_found")


def test_unknown_user_id(srv):
    c = claims(srv, "alice", userId="987654321", username="ghost")
    expect_auth_error(srv, srv.sign_jwt(c), "user_not_found")


# ---------------------------------------------------------------- too_many_sessions


def test_too_many_sessions(srv):
    """MAX_CONNECTIONS_PER_USER=2: the third connection of a user gets
    too_many_sessions then 4001; the two first stay usable; once one closes,
    a new one is accepted again."""
    user = fresh_user(srv)
    ws1, _ = raw_authed(srv, user)
    ws2, _ = raw_authed(srv, user)
    try:
        expect_auth_error(srv, srv.token(user), "too_many_sessions", request_id="third")
        for i, ws in enumerate((ws1, ws2)):
            ws.send_json({"type": "ping", "requestId": "p%d" % i})
            pong = ws.recv_json()
            assert pong.get("type") == "pong" and pong.get("requestId") == "p%d" % i, pong
        # Another user is not affected.
        other = fresh_user(srv)
        expect_accepted(srv, srv.token(other), other)
        ws1.close_handshake(1000)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            ws3, reply = raw_authenticate(srv, srv.token(user), "again")
            with ws3:
                if reply.get("type") == "auth_success":
                    break
                assert reply.get("code") == "too_many_sessions", reply
            assert time.monotonic() < deadline, "the closed session was never released"
            time.sleep(0.05)
    finally:
        ws1.close()
        ws2.close()


# ---------------------------------------------------------------- auth_success


def test_auth_success_fields(srv):
    """auth_success: userId (string), username, clientId (UUID), expiresAt
    (ISO-8601 with ms, the token's exp), the requestId; then online_users."""
    user = fresh_user(srv)
    exp = int(time.time()) + 1800
    tok = srv.sign_jwt(claims(srv, user, exp=exp))
    ws, reply = raw_authenticate(srv, tok, "auth-fields")
    with ws:
        assert reply["type"] == "auth_success", reply
        assert reply.get("requestId") == "auth-fields", reply
        assert reply.get("userId") == srv.users[user] and isinstance(reply["userId"], str), reply
        assert reply.get("username") == user, reply
        assert_uuid(reply.get("clientId"))
        assert_iso_ms(reply.get("expiresAt"), "expiresAt")
        at = parse_iso_ms(reply["expiresAt"])
        assert exp <= at <= exp + 30, "expiresAt %s is not the token's exp %d" % (reply["expiresAt"], exp)
        nxt = ws.recv_json()
        assert nxt.get("type") == "online_users", "after auth_success expected online_users, got %r" % nxt
        assert nxt.get("userIds") == [], nxt  # a fresh user follows nobody
        assert "requestId" not in nxt, nxt


def test_online_users_lists_followed_online_users(srv):
    """online_users right after auth_success: the followed users who are online
    (ids as strings), not the online users one does not follow."""
    a, b = fresh_pair(srv, follow=True)
    c = fresh_user(srv)
    wb, _ = raw_authed(srv, b)
    wc, _ = raw_authed(srv, c)
    try:
        ws, reply = raw_authenticate(srv, srv.token(a), "ou")
        with ws:
            assert reply.get("type") == "auth_success", reply
            nxt = ws.recv_json()
            assert nxt.get("type") == "online_users", "after auth_success expected online_users, got %r" % nxt
            assert nxt.get("userIds") == [srv.users[b]], nxt
    finally:
        wb.close()
        wc.close()


def test_auth_success_without_request_id(srv):
    """Without requestId, auth_success carries none."""
    user = fresh_user(srv)
    ws, reply = raw_authenticate(srv, srv.token(user))
    with ws:
        assert reply.get("type") == "auth_success", reply
        assert "requestId" not in reply, reply


def test_auth_error_without_request_id(srv):
    ws, reply = raw_authenticate(srv, "a.b.c")
    with ws:
        assert reply.get("type") == "auth_error" and reply.get("code") == "invalid_token", reply
        assert "requestId" not in reply, reply
        ws.expect_close(4001)


def test_user_id_as_number(srv):
    user = fresh_user(srv)
    reply = expect_accepted(srv, srv.sign_jwt(claims(srv, user, userId=int(srv.users[user]))), user)
    assert reply["userId"] == srv.users[user]


@pytest.mark.parametrize("as_int", [False, True], ids=["string", "integer"])
def test_sub_fallback(srv, as_int):
    """sub (string or integer) names the user when userId is absent."""
    user = fresh_user(srv)
    uid = srv.users[user]
    tok = srv.sign_jwt(claims(srv, user, userId=None, sub=int(uid) if as_int else uid))
    expect_accepted(srv, tok, user)


def test_user_id_wins_over_sub(srv):
    """When both are present, userId names the user."""
    user = fresh_user(srv)
    tok = srv.sign_jwt(claims(srv, user, sub=srv.users["bob"]))
    expect_accepted(srv, tok, user)


def test_chatctl_token_accepted(srv):
    user = fresh_user(srv)
    expect_accepted(srv, srv.token(user), user)


# ---------------------------------------------------------------- before / after auth


def test_not_authenticated_before_auth(srv):
    """Before auth any other type gets not_authenticated (with requestId) and the
    connection stays open; authenticate then works."""
    user = fresh_user(srv)
    with raw_connect(srv) as ws:
        for t in ("ping", "send_private_message", "get_messages", "get_user_profile", "nonsense"):
            ws.send_json({"type": t, "requestId": "na-" + t, "recipientId": "1", "content": "x"})
            assert_error(ws.recv_json(), "not_authenticated", "na-" + t)
        ws.send_json({"type": "ping"})
        msg = assert_error(ws.recv_json(), "not_authenticated")
        assert "requestId" not in msg, msg
        ws.send_json({"type": "authenticate", "token": srv.token(user), "requestId": "late"})
        reply = ws.recv_json()
        assert reply.get("type") == "auth_success" and reply.get("requestId") == "late", reply


def test_already_authenticated(srv):
    """A second authenticate → already_authenticated; the connection stays open
    and the session keeps its identity."""
    user, other = fresh_user(srv), fresh_user(srv)
    ws, first = raw_authed(srv, user)
    with ws:
        ws.send_json({"type": "authenticate", "token": srv.token(other), "requestId": "again"})
        assert_error(ws.recv_json(), "already_authenticated", "again")
        ws.send_json({"type": "authenticate", "token": "garbage", "requestId": "again2"})
        assert_error(ws.recv_json(), "already_authenticated", "again2")
        ws.send_json({"type": "get_user_profile", "userId": srv.users[user], "requestId": "me"})
        prof = ws.recv_json()
        assert prof.get("type") == "user_profile" and prof.get("requestId") == "me", prof
        ws.send_json({"type": "ping", "requestId": "still"})
        pong = ws.recv_json()
        assert pong.get("type") == "pong" and pong.get("requestId") == "still", pong


def test_failed_auth_closes_even_after_other_requests(srv):
    """not_authenticated replies do not count as a failed auth; the bad token does."""
    with raw_connect(srv) as ws:
        ws.send_json({"type": "ping", "requestId": "x"})
        assert_error(ws.recv_json(), "not_authenticated", "x")
        ws.send_json({"type": "authenticate", "token": "x.y.z", "requestId": "bad"})
        reply = ws.recv_json()
        assert reply.get("type") == "auth_error" and reply.get("code") == "invalid_token", reply
        assert reply.get("requestId") == "bad", reply
        ws.expect_close(4001)


# ---------------------------------------------------------------- issuer / audience


@pytest.fixture(scope="module")
def iss_srv():
    with chatd(env={"JWT_ISSUER": "user-service", "JWT_AUDIENCE": "chatd"}, users=["alice"]) as s:
        yield s


def test_issuer_audience_enforced(iss_srv):
    s = iss_srv
    ok = claims(s, "alice", iss="user-service", aud="chatd")
    expect_accepted(s, s.sign_jwt(ok), "alice", request_id="both")
    cases = {
        "wrong-iss": dict(iss="someone-else"),
        "no-iss": dict(iss=None),
        "wrong-aud": dict(aud="other"),
        "no-aud": dict(aud=None),
        "aud-list-without": dict(aud=["x", "y"]),
        "iss-number": dict(iss=1),
    }
    for rid, over in cases.items():
        c = dict(ok)
        for k, v in over.items():
            if v is None:
                c.pop(k)
            else:
                c[k] = v
        c["jti"] = str(uuid.uuid4())
        expect_auth_error(s, s.sign_jwt(c), "invalid_token", request_id=rid)


def test_audience_array_containing_ours(iss_srv):
    """RFC 7519 §4.1.3: aud may be an array; one entry equal to ours is enough."""
    s = iss_srv
    c = claims(s, "alice", iss="user-service", aud=["other", "chatd"])
    expect_accepted(s, s.sign_jwt(c), "alice")


def test_chatctl_token_without_iss_refused_when_issuer_set(iss_srv):
    """chatctl mints tokens without iss/aud (unless configured): refused when enforced."""
    c = claims(iss_srv, "alice")
    expect_auth_error(iss_srv, iss_srv.sign_jwt(c), "invalid_token")
