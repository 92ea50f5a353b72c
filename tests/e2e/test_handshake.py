"""The WebSocket opening handshake (protocol §1, RFC 6455 §4) over raw sockets.

A valid upgrade on / and /ws gets 101 with the right Sec-WebSocket-Accept;
another version gets 426 naming version 13; any other malformed upgrade gets
400; request headers over 16 KiB get 431; an Origin outside ALLOWED_ORIGINS
gets 403. None of the refused requests may be upgraded.
"""

import base64
import json
import os

import pytest
import websockets

from conftest import chatd, http_raw, run, ws_connect
from wsraw import (OP_TEXT, RawWebSocket, accept_key, build_frame, expect_not_authenticated,
                   handshake_request, new_key, probe, probe_payload)


def upgrade(port, path="/", headers=None, drop=(), method="GET", version="HTTP/1.1", key=None):
    """Send a handshake request built from the standard headers, return the response."""
    req = handshake_request(path, "127.0.0.1:%d" % port, key or new_key(), headers, drop, method, version)
    return http_raw(port, req)


def assert_refused(resp, status):
    assert resp.status == status, "expected HTTP %d, got %r" % (status, resp)
    assert "sec-websocket-accept" not in resp.headers, "refused upgrade carries an accept key: %r" % resp


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize("path", ["/", "/ws"])
def test_upgrade_accepted(server, path):
    """A well-formed upgrade on / and /ws gets 101 with the RFC 6455 accept key,
    and the connection then speaks chatd's protocol."""
    with RawWebSocket.connect(server.port, path) as ws:
        probe(ws, "after-upgrade")
        ws.close_handshake(1000)


def test_upgrade_accept_key_matches_rfc_example(server):
    """RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== → s3pPLMBiTxaQ9kYGzzhZRbK+xOo=."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    resp = upgrade(server.port, key=key)
    assert resp.status == 101, resp
    assert resp.headers.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" == accept_key(key)


@pytest.mark.parametrize("path", ["/", "/ws"])
def test_upgrade_with_python_websockets(server, path):
    """An independent client (python3-websockets, permessage-deflate offered) connects."""
    async def go():
        ws = await ws_connect(server, path)
        await ws.send('{"type":"ping","requestId":"w"}')
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and reply["code"] == "not_authenticated", reply
        assert reply["requestId"] == "w", reply
        await ws.close()
    run(go())


@pytest.mark.parametrize("headers", [
    {"Connection": "keep-alive, Upgrade"},           # what Firefox sends
    {"Connection": "upgrade"},                       # tokens are case-insensitive
    {"Upgrade": "WebSocket"},                        # so is the Upgrade value
    {"upgrade": "websocket", "connection": "Upgrade"},  # header names too
], ids=["connection-list", "connection-lowercase", "upgrade-mixed-case", "lowercase-names"])
def test_upgrade_header_variants_accepted(server, headers):
    """RFC 6455 §4.2.1: Connection contains the token Upgrade (a list, any case);
    Upgrade contains websocket (any case)."""
    resp = upgrade(server.port, headers=headers)
    assert resp.status == 101, resp


def test_upgrade_with_moderate_headers_accepted(server):
    """About 8 KiB of request headers (big cookies) are within the 16 KiB bound."""
    resp = upgrade(server.port, headers=[("Cookie", "a=" + "x" * 8000)])
    assert resp.status == 101, resp


def test_frame_pipelined_after_handshake_is_processed(server):
    """A client frame written in the same packet as the request is not lost."""
    frame = build_frame(OP_TEXT, probe_payload("pipelined"))
    with RawWebSocket.connect(server.port, "/", extra=frame) as ws:
        expect_not_authenticated(ws, "pipelined")
        ws.close_handshake(1000)


def test_two_frames_pipelined_after_handshake_are_processed(server):
    frames = build_frame(OP_TEXT, probe_payload("p1")) + build_frame(OP_TEXT, probe_payload("p2"))
    with RawWebSocket.connect(server.port, "/ws", extra=frames) as ws:
        expect_not_authenticated(ws, "p1")
        expect_not_authenticated(ws, "p2")
        ws.close_handshake(1000)


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize("key", [
    base64.b64encode(os.urandom(15)).decode(),     # 15 bytes
    base64.b64encode(os.urandom(17)).decode(),     # 17 bytes
    base64.b64encode(os.urandom(32)).decode(),     # 32 bytes
    "!!!!!!!!!!!!!!!!!!!!!!==",                    # 24 chars, not base64
    "AAAAAAAAAAAAAAAAAAAAAA",                      # 16 bytes without the padding
    "",                                            # empty
], ids=["15-bytes", "17-bytes", "32-bytes", "not-base64", "no-padding", "empty"])
def test_bad_key_400(server, key):
    """Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 §4.1) → else 400."""
    assert_refused(upgrade(server.port, headers={"Sec-WebSocket-Key": key}), 400)


def test_version_8_is_426_naming_13(server):
    """Another Sec-WebSocket-Version → 426 with Sec-WebSocket-Version: 13 (§4.4)."""
    resp = upgrade(server.port, headers={"Sec-WebSocket-Version": "8"})
    assert_refused(resp, 426)
    assert resp.headers.get("sec-websocket-version") == "13", resp


@pytest.mark.parametrize("version", ["12", "14", "0"])
def test_other_versions_426(server, version):
    resp = upgrade(server.port, headers={"Sec-WebSocket-Version": version})
    assert_refused(resp, 426)
    assert resp.headers.get("sec-websocket-version") == "13", resp


@pytest.mark.parametrize("missing", ["Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"])
def test_missing_header_400(server, missing):
    """Each of the four handshake headers is required → 400 without it."""
    assert_refused(upgrade(server.port, drop=[missing]), 400)


@pytest.mark.parametrize("headers", [
    {"Upgrade": "h2c"},
    {"Connection": "keep-alive"},
], ids=["upgrade-not-websocket", "connection-without-upgrade"])
def test_wrong_header_value_400(server, headers):
    assert_refused(upgrade(server.port, headers=headers), 400)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_not_get_400(server, method):
    """The upgrade must be a GET (RFC 6455 §4.1); protocol §1 says 400."""
    assert_refused(upgrade(server.port, method=method, headers={"Content-Length": "0"}), 400)


def test_http_1_0_400(server):
    """The upgrade must be HTTP/1.1 or higher → an HTTP/1.0 upgrade gets 400."""
    assert_refused(upgrade(server.port, version="HTTP/1.0"), 400)


def test_headers_over_16k_431(server):
    """Request headers over 16 KiB → 431 (one huge header)."""
    resp = upgrade(server.port, headers=[("Cookie", "a=" + "x" * 17000)])
    assert_refused(resp, 431)


def test_many_headers_over_16k_431(server):
    """Request headers over 16 KiB → 431 (many small headers)."""
    headers = [("X-Filler-%03d" % i, "y" * 90) for i in range(200)]
    assert_refused(upgrade(server.port, headers=headers), 431)


def test_server_survives_refused_upgrades(server):
    """After all the refusals above, a good upgrade still works."""
    with RawWebSocket.connect(server.port, "/ws") as ws:
        probe(ws, "still-alive")
        ws.close_handshake(1000)


# ---------------------------------------------------------------- Origin


@pytest.fixture(scope="module")
def origin_server():
    with chatd(env={"ALLOWED_ORIGINS": "http://good.example"}) as srv:
        yield srv


def test_origin_allowed_101(origin_server):
    resp = upgrade(origin_server.port, headers={"Origin": "http://good.example"})
    assert resp.status == 101, resp


@pytest.mark.parametrize("origin", ["http://evil.example", "http://good.example.evil.example",
                                    "https://good.example", "null"])
def test_origin_not_allowed_403(origin_server, origin):
    """Origin outside ALLOWED_ORIGINS → 403 (protocol §1)."""
    assert_refused(upgrade(origin_server.port, headers={"Origin": origin}), 403)


def test_origin_not_allowed_with_python_websockets(origin_server):
    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await ws_connect(origin_server, "/ws", origin="http://evil.example")
        assert e.value.status_code == 403
    run(go())

