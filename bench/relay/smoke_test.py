#!/usr/bin/python3
"""Quick check of the bare relay with independent clients (python3-websockets):
authenticate several users, send DMs between every pair, and expect the ack
on the sender and the delivery on every connection of the recipient. With
more connections than threads, some pairs cross loops.

    build/bench/relay --port 9100 &
    bench/relay/smoke_test.py [--port 9100]
"""
import argparse, asyncio, base64, json, sys, time
import websockets


def token(user_id):
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return seg({"alg": "HS256", "typ": "JWT"}) + "." + seg({"userId": str(user_id), "exp": 4102444800}) + ".unsigned"


async def connect(url, user_id):
    ws = await websockets.connect(url, compression=None)
    await ws.send(json.dumps({"type": "authenticate", "token": token(user_id)}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 2))
    assert reply["type"] == "auth_success" and reply["userId"] == str(user_id), reply
    return ws


async def main(port):
    url = f"ws://127.0.0.1:{port}/ws"
    # users 1..6, and user 6 twice (two connections, likely on different loops)
    users = list(range(1, 7))
    conns = {u: [await connect(url, u)] for u in users}
    conns[6].append(await connect(url, 6))
    checked = 0
    for s in users:
        for r in users:
            if s == r:
                continue
            content = f'hello "{s}"->{r} t={time.time_ns()}'
            req = {"type": "send_private_message", "recipientId": str(r), "requestId": f"q{s}{r}",
                   "clientMessageId": f"c{s}{r}", "content": content}
            await conns[s][0].send(json.dumps(req))
            ack = json.loads(await asyncio.wait_for(conns[s][0].recv(), 2))
            assert ack["type"] == "new_message" and ack["requestId"] == f"q{s}{r}", ack
            m = ack["message"]
            assert m["content"] == content and m["clientMessageId"] == f"c{s}{r}", m
            assert m["senderId"] == str(s) and m["recipientId"] == str(r), m
            for ws in conns[r]:
                d = json.loads(await asyncio.wait_for(ws.recv(), 2))
                assert d["type"] == "new_message" and "requestId" not in d, d
                assert d["message"] == m, (d, m)
            # the sender's other connection sees its own message, as in chatd
            for ws in conns[s][1:]:
                d = json.loads(await asyncio.wait_for(ws.recv(), 2))
                assert d["message"] == m, d
            checked += 1
    await conns[1][0].send(json.dumps({"type": "ping", "requestId": "p1"}))
    reply = json.loads(await asyncio.wait_for(conns[1][0].recv(), 2))
    assert reply == {"type": "pong", "requestId": "p1"}, reply
    pong = await conns[1][0].ping(b"x")
    await asyncio.wait_for(pong, 2)
    for cs in conns.values():
        for ws in cs:
            await ws.close()
    print(f"ok: {checked} DMs acked and delivered, app ping, ping/pong and close ok")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9100)
    asyncio.run(main(ap.parse_args().port))
