"""PostgreSQL going away in the middle of traffic, and coming back (issue 3;
protocol §8 consistency, §10 /ready).

A dedicated throwaway cluster (scripts/pg-test-server.sh on its own port and
directory) is stopped with `pg_ctl stop -m fast` while six clients send DMs
with clientMessageIds and a seventh only pings. Expected:
  - GET /ready answers 503 within 2 s of the stop;
  - sends in between get `unavailable`, and what was not acknowledged is
    delivered to nobody;
  - the event loops do not stall: app-level pings keep answering;
  - once the cluster is started again, /ready is 200 without a restart of
    chatd, and sends succeed;
  - the clients resend what was not acknowledged (same clientMessageId), and
    afterwards every acknowledged message is in history exactly once.

Runs in the PostgreSQL pass of the suite (CHATD_TEST_ENGINE=postgres); the
SQLite pass skips it. The observed timings are printed (pytest -s).
"""

import asyncio
import os
import subprocess
import tempfile
import time
import types

import pytest

from conftest import ENGINE, ROOT, chatd, free_port, run

SCRIPT = os.path.join(ROOT, "scripts", "pg-test-server.sh")
PAIRS = 3
REQUEST_TIMEOUT = 15.0  # a batch gives up after 5 s at worst

pytestmark = pytest.mark.skipif(ENGINE != "postgres",
                                reason="the PostgreSQL pass runs it (CHATD_TEST_ENGINE=postgres)")


@pytest.fixture(scope="module")
def cluster():
    """A PostgreSQL cluster of this module's own, stopped and removed after."""
    env = dict(os.environ, PG_TEST_PORT=str(free_port()),
               PG_TEST_DIR=tempfile.mkdtemp(prefix="chatd-pg-test-failure-", dir="/tmp"))

    def script(*args):
        p = subprocess.run([SCRIPT] + list(args), env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, "pg-test-server.sh %s failed:\n%s%s" % (
            " ".join(args), p.stdout, p.stderr)
        return p.stdout.strip()

    url = script("start").splitlines()[-1]
    try:
        yield types.SimpleNamespace(url=url, script=script)
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, timeout=120)


def ready_status(srv):
    try:
        return srv.http_get("/ready", timeout=2).status
    except (OSError, TimeoutError, AssertionError):
        return None


def wait_ready(srv, status, timeout):
    """Seconds until GET /ready answers status (polled every 20 ms), or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if ready_status(srv) == status:
            return time.monotonic() - start
        time.sleep(0.02)
    return None


class Sender:
    """One client sending DMs to its partner, one at a time, each with a
    clientMessageId; remembers what was acknowledged and what was not."""

    def __init__(self, client, name, partner_id):
        self.c, self.name, self.partner_id = client, name, partner_id
        self.acked = {}         # clientMessageId -> messageId
        self.unacked = []       # clientMessageIds to resend
        self.unavailable = 0    # `unavailable` errors seen
        self.duplicates = 0     # resends that had been stored after all
        self.next = 0

    async def send(self, cmid):
        reply = await self.c.request("send_private_message", timeout=REQUEST_TIMEOUT,
                                     recipientId=self.partner_id, content="m " + cmid,
                                     clientMessageId=cmid)
        if reply.get("type") == "new_message":
            assert reply["message"]["clientMessageId"] == cmid, reply
            self.duplicates += reply.get("duplicate") is True
            assert self.acked.setdefault(cmid, reply["message"]["messageId"]) == \
                reply["message"]["messageId"], "a resend got another id: %r" % reply
            return True
        assert reply.get("type") == "error" and reply.get("code") == "unavailable", reply
        self.unavailable += 1
        return False

    async def run(self, stop):
        while not stop.is_set():
            cmid = "%s-%d" % (self.name, self.next)
            self.next += 1
            if not await self.send(cmid):
                self.unacked.append(cmid)
            await asyncio.sleep(0.02)

    async def resend_all(self, deadline):
        while self.unacked:
            assert time.monotonic() < deadline, "%s: could not resend %r" % (self.name, self.unacked)
            if await self.send(self.unacked[0]):
                self.unacked.pop(0)
            else:
                await asyncio.sleep(0.2)


async def pings_answer(client, count):
    """count app-level pings, each answered within a second."""
    worst = 0.0
    for _ in range(count):
        start = time.monotonic()
        pong = await client.request("ping", timeout=1.0)
        assert pong.get("type") == "pong", pong
        worst = max(worst, time.monotonic() - start)
        await asyncio.sleep(0.1)
    return worst


async def history_ids(client, with_user_id):
    """Every messageId of the conversation, oldest first, paging back."""
    ids, before = [], None
    while True:
        fields = {"withUserId": with_user_id, "limit": 100}
        if before:
            fields["beforeId"] = before
        page = await client.request("get_messages", **fields)
        assert page.get("type") == "messages", page
        ids = [m["messageId"] for m in page["messages"]] + ids
        if not page["hasMore"]:
            return ids
        before = page["messages"][0]["messageId"]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_stop_and_start_postgres_under_traffic(cluster):
    names = ["p%d" % i for i in range(2 * PAIRS)]
    follows = [(names[i], names[i ^ 1]) for i in range(2 * PAIRS)]
    env = {"DATABASE_URL": cluster.url, "RATE_LIMIT_MESSAGES": "1000000", "DB_POOL_SIZE": "4"}
    with chatd(env=env, users=names + ["watcher"], follows=follows) as srv:
        assert ready_status(srv) == 200
        timings = {}

        async def go():
            clients = [await srv.authed(n) for n in names]
            watcher = await srv.authed("watcher")
            senders = [Sender(clients[i], names[i], srv.users[names[i ^ 1]])
                       for i in range(2 * PAIRS)]
            stop = asyncio.Event()
            traffic = [asyncio.ensure_future(s.run(stop)) for s in senders]
            loop = asyncio.get_running_loop()

            async def until(predicate, timeout, what):
                deadline = time.monotonic() + timeout
                while not predicate():
                    assert time.monotonic() < deadline, "timed out waiting for " + what
                    await asyncio.sleep(0.05)

            await until(lambda: all(len(s.acked) >= 5 for s in senders), 30, "traffic")

            # -- the database goes away
            acked_before = sum(len(s.acked) for s in senders)
            t_stop = time.monotonic()
            await loop.run_in_executor(None, cluster.script, "ctl", "stop", "-m", "fast", "-w")
            t_stopped = time.monotonic()
            down = await loop.run_in_executor(None, wait_ready, srv, 503, 10)
            assert down is not None, "/ready never answered 503"
            timings["stop_cmd_s"] = t_stopped - t_stop
            timings["ready_503_after_stop_s"] = time.monotonic() - t_stopped
            assert timings["ready_503_after_stop_s"] <= 2.0, timings
            await until(lambda: sum(s.unavailable for s in senders) >= 3, 10, "unavailable errors")
            timings["ping_worst_while_down_s"] = await pings_answer(watcher, 10)
            assert srv.http_get("/health").status == 200
            unavailable_while_down = sum(s.unavailable for s in senders)

            # -- and comes back
            t_start = time.monotonic()
            await loop.run_in_executor(None, cluster.script, "start")
            t_started = time.monotonic()
            up = await loop.run_in_executor(None, wait_ready, srv, 200, 15)
            assert up is not None, "/ready did not come back to 200"
            timings["start_cmd_s"] = t_started - t_start
            timings["ready_200_after_start_s"] = time.monotonic() - t_started
            acked_mid = sum(len(s.acked) for s in senders)
            await until(lambda: sum(len(s.acked) for s in senders) >= acked_mid + 30, 30,
                        "acknowledgements after the restart")
            stop.set()
            await asyncio.gather(*traffic)

            # -- clients resend what was not acknowledged
            resend_deadline = time.monotonic() + 30
            await asyncio.gather(*(s.resend_all(resend_deadline) for s in senders))
            timings["acked_before_stop"] = acked_before
            timings["unavailable_errors"] = unavailable_while_down
            timings["acked_total"] = sum(len(s.acked) for s in senders)
            timings["resends_found_stored"] = sum(s.duplicates for s in senders)

            # -- every acknowledged message is in history exactly once
            for i in range(0, 2 * PAIRS, 2):
                ids = await history_ids(clients[i], srv.users[names[i + 1]])
                assert len(ids) == len(set(ids)), "a message appears twice in history"
                acked = set(senders[i].acked.values()) | set(senders[i + 1].acked.values())
                assert acked <= set(ids), "acknowledged but missing: %r" % sorted(acked - set(ids))
                assert set(ids) <= acked, "in history, never acknowledged: %r" % sorted(set(ids) - acked)
            # -- and nothing that was not acknowledged was delivered
            for i, c in enumerate(clients):
                partner = senders[i ^ 1]
                delivered = [m["message"]["messageId"] for m in c.pending
                             if m.get("type") == "new_message" and "requestId" not in m]
                assert set(delivered) <= set(partner.acked.values()), "delivered, never acknowledged"
                assert len(delivered) == len(set(delivered)), "delivered twice"
            for c in clients + [watcher]:
                await c.close()

        run(go(), timeout=180)
        dupes = srv.db_query("SELECT sender_id, client_message_id, count(*) FROM private_messages"
                             " GROUP BY 1, 2 HAVING count(*) > 1")
        assert dupes == [], dupes
        print("\npostgres failure timings: %r" % timings)
