"""Socket.IO benchmark of the DreamSeed Hub: connections, 1:1 chat, a busy room, announcements.

The benchmark owns everything it measures: it creates a database (``ds_bench_<hex>``) on the
local PostgreSQL server, migrates and seeds it in bulk (``seed.py``), starts the hub
process(es) itself with uvicorn on uvloop, pins them to core 0 and itself to core 1 (when
the machine has two cores or more), waits for ``/readyz``, drives the load with the lean
raw-protocol client (``lean_client.py``), then stops the hubs, drops the database and removes
its Redis keys. Only 127.0.0.1 is used, and every phase is bounded in time.

Scenarios::

    connect   N concurrent authenticated connections: time to connect them all, connections/s,
              hub RSS before/after and per connection, hub CPU per handshake, and how long the
              hub takes to process their disconnection.
    chat      M pairs of users in direct conversations; the first of each pair sends to the
              second, R messages/s in all for T seconds. send->ack and send->delivery latency,
              lost (acked but never delivered) and duplicated deliveries. --hubs 2 puts the
              senders on hub 1 and the receivers on hub 2.
    room      one group conversation with N online members; S of them send R messages/s in
              all for T seconds, so the hub makes N*R deliveries/s.
    announce  one announcement conversation with N online members; the teacher sends one
              message and we time the last member's delivery. Repeated K times.
    bus       the same pairs and rate on 1, 2 and 4 hubs: hub CPU per message.
    restart   N users in N/2 direct pairs on one hub, S pairs sending R messages/s in all; the
              hub is SIGKILLed (or SIGTERMed) and a fresh process started on its port. Every
              client reconnects by itself (socket.io-client's jittered backoff) and calls
              `sync` from its last contiguous seq; senders resend what was never acked (same
              client_msg_id). Time until all are back and synced, failed attempts by reason,
              hub CPU, and lost (acked, never received live or by sync) / duplicated.

Examples (see loadtest/README.md, "Hub benchmark", for the figures)::

    .venv/bin/python loadtest/hub_bench.py connect --n 10000 --json /tmp/connect.json
    .venv/bin/python loadtest/hub_bench.py chat --pairs 500 --rate 1000 --duration 60 --hubs 2
    .venv/bin/python loadtest/hub_bench.py room --members 1000 --rate 20 --duration 30
    .venv/bin/python loadtest/hub_bench.py announce --members 5000 --repeat 5
    .venv/bin/python loadtest/hub_bench.py restart --n 10000 --signal kill --repeat 1

The hub is run as configured by default (MESSAGE_RATE_PER_S=10 a user, DB pool of 10): the
scenarios stay within the per-user message limit (2 messages/s a sender by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
from lean_client import (
    Backoff,
    LeanSocket,
    ProtocolError,
    RawEventHandler,
    ReconnectingSocket,
    Refused,
    UpHandler,
    loads,
    raw_string_field,
)
from redis.asyncio import Redis
from seed import SeededUser, Seeder, create_database, drop_database, require_local
from servers import Servers, process_cpu_s

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub.tokens import TokenIssuer  # noqa: E402

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCENARIOS = ("connect", "chat", "room", "announce", "bus", "restart")


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --- measurements ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    values = sorted(seconds)
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2) if values else float("nan"),
    }


def cpu_of_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- hub processes --------------------------------------------------------------------------


@dataclass
class Hub:
    index: int
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BenchError(f"no VmRSS for hub {self.index}")

    def cpu_s(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def http_get(port: int, path: str, wait_s: float = 3.0) -> tuple[int, bytes]:
    """A minimal HTTP/1.1 GET on 127.0.0.1 (no client library in the timing path)."""
    async with asyncio.timeout(wait_s):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            data = await reader.read()
        finally:
            writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def hub_sockets(hub: Hub) -> int:
    """The hub's own count of live Socket.IO connections (its Prometheus gauge)."""
    _, body = await http_get(hub.port, "/metrics")
    for line in body.splitlines():
        if line.startswith(b"dreamseed_sockets "):
            return int(float(line.split()[1]))
    return -1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _spawn(cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@dataclass
class Bench:
    """Shared state of one benchmark invocation: database, Redis namespace, hubs."""

    args: argparse.Namespace
    owner_dsn: str = ""
    db_name: str = ""
    namespace: str = ""
    secret: str = ""
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-bench-")))
    hubs: list[Hub] = field(default_factory=list)
    pinned: bool = False
    servers: Servers | None = None

    @property
    def hub_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}
        env.update(
            {
                "DATABASE_URL": self.owner_dsn,
                "REDIS_URL": self.args.redis_url,
                "JWT_SECRET": self.secret,
                "REDIS_NAMESPACE": self.namespace,
                "RATE_LIMIT_PER_MINUTE": str(self.args.rate_limit_per_minute),
                "MESSAGE_RATE_PER_S": str(self.args.message_rate_per_s),
                "LOG_LEVEL": "warning",
                # One load client stands for thousands of people: no per-address caps.
                "CONNECTS_PER_IP_PER_S": str(self.args.connects_per_ip_per_s),
                "MAX_IN_FLIGHT_PER_CLIENT": "1000000",
                "PYTHONUNBUFFERED": "1",
                # the hub's own sources first (--hub-src: e.g. a git worktree of another commit)
                "PYTHONPATH": str(self.args.hub_src),
            }
        )
        return env

    async def start_hubs(self, count: int) -> list[Hub]:
        for i in range(count):
            self.hubs.append(self._launch(i, _free_port()))
        for hub in self.hubs:
            await self._wait_ready(hub)
        return list(self.hubs)

    def _launch(self, index: int, port: int) -> Hub:
        """One hub process on `port` (not waited for)."""
        taskset = shutil.which("taskset") if self.pinned else None
        log = self.log_dir / f"hub-{index}-{port}-{secrets.token_hex(2)}.log"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            HOST,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            # As the Procfile runs the hub.
            "--no-access-log",
            "--no-proxy-headers",
            "--ws-per-message-deflate",
            "false",
        ]
        if taskset:
            cmd = [taskset, "-c", str(self.args.hub_core), *cmd]
        hub = Hub(index, port, _spawn(cmd, self.hub_env, log, self.args.hub_src), log)
        if self.pinned and not taskset:
            os.sched_setaffinity(hub.pid, {self.args.hub_core})
        return hub

    async def restart_hub(self, hub: Hub, signum: signal.Signals) -> tuple[Hub, float]:
        """Stop `hub` with `signum`, wait for it to exit, start a fresh process on its port.
        Returns the new hub (not yet ready) and how long the old one took to exit."""
        started = time.perf_counter()
        hub.proc.send_signal(signum)
        try:
            await asyncio.to_thread(hub.proc.wait, 60)
        except subprocess.TimeoutExpired:
            hub.proc.kill()
            await asyncio.to_thread(hub.proc.wait, 10)
        exited = time.perf_counter() - started
        fresh = self._launch(hub.index, hub.port)
        self.hubs[self.hubs.index(hub)] = fresh
        return fresh, exited

    async def _wait_ready(self, hub: Hub) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if hub.proc.poll() is not None:
                raise BenchError(f"hub {hub.index} exited:\n{hub.log_tail()}")
            with contextlib.suppress(OSError, TimeoutError, ValueError, IndexError):
                status, _ = await http_get(hub.port, "/readyz", wait_s=2)
                if status == 200:
                    return
            await asyncio.sleep(0.1)
        raise BenchError(f"hub {hub.index} not ready in 60 s:\n{hub.log_tail()}")

    async def stop_hubs(self) -> None:
        for hub in self.hubs:
            if hub.proc.poll() is None:
                hub.proc.send_signal(signal.SIGTERM)
        for hub in self.hubs:
            try:
                await asyncio.to_thread(hub.proc.wait, 15)
            except subprocess.TimeoutExpired:
                hub.proc.kill()
                await asyncio.to_thread(hub.proc.wait, 10)
        self.hubs = []

    def hub_rss_kb(self) -> int:
        return sum(h.rss_kb() for h in self.hubs)

    def hub_cpu_s(self) -> float:
        return sum(h.cpu_s() for h in self.hubs)

    async def server_cpu_s(self) -> dict[str, Any]:
        """Cumulative CPU seconds of PostgreSQL and Redis (see servers.py for what counts)."""
        if self.servers is None:
            return {"postgres": None, "redis": None}
        if self.servers.postgres_pid is None:  # --servers local: this database's backends
            conn = await asyncpg.connect(self.args.pg_admin)
            try:
                pids = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.db_name
                )
            finally:
                await conn.close()
            per_pid = {r["pid"]: process_cpu_s(r["pid"]) for r in pids}
            return {"postgres": per_pid, "redis": None}
        return self.servers.cpu_s()

    async def cleanup_redis(self) -> None:
        redis = Redis.from_url(self.args.redis_url)
        try:
            batch: list[bytes] = []
            async for key in redis.scan_iter(match=f"{self.namespace}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await redis.delete(*batch)
                    batch = []
            if batch:
                await redis.delete(*batch)
        finally:
            await redis.aclose()


class Profiler:
    """py-spy recording a hub during the measured phase (optional: --py-spy FILE)."""

    def __init__(self, bench: Bench, duration_s: float) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        out, spy = bench.args.py_spy, shutil.which("py-spy") or bench.args.py_spy_bin
        if not out or not bench.hubs:
            return
        if not spy or not Path(spy).exists():
            print("py-spy not found: not profiling", file=sys.stderr)
            return
        self.proc = subprocess.Popen(  # noqa: S603
            [
                spy,
                "record",
                "--pid",
                str(bench.hubs[0].pid),
                "--format",
                "raw",
                "--nonblocking",
                "--rate",
                "200",
                "--duration",
                str(max(1, int(duration_s))),
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait(self) -> None:
        if self.proc is None:
            return
        for _ in range(300):
            if self.proc.poll() is not None:
                return
            await asyncio.sleep(0.1)
        self.proc.kill()


# --- connections ----------------------------------------------------------------------------


async def connect_all(
    targets: list[tuple[int, str, RawEventHandler | None]], concurrency: int, wait_s: float
) -> tuple[list[LeanSocket | None], Counter[str], float]:
    """Open every (port, token, handler) at most `concurrency` at a time."""
    socks: list[LeanSocket | None] = [None] * len(targets)
    errors: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, port: int, token: str, handler: RawEventHandler | None) -> None:
        async with gate:
            try:
                socks[i] = await LeanSocket.open(
                    HOST, port, token, None, wait_s, on_raw_event=handler
                )
            except Refused as exc:
                errors[f"refused: {exc.data}"] += 1
            except ProtocolError as exc:  # e.g. the per-address handshake cap's 403
                errors[str(exc)] += 1
            except TimeoutError:
                errors["timeout"] += 1
            except OSError as exc:
                errors[f"{type(exc).__name__}: {exc.errno}"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i, *t) for i, t in enumerate(targets)))
    return socks, errors, time.perf_counter() - started


async def close_all(socks: Sequence[LeanSocket | None]) -> None:
    for sock in socks:
        if sock is not None:
            sock.close()
    await asyncio.sleep(0)


async def wait_hub_drained(bench: Bench, wait_s: float) -> float | None:
    """Seconds until every hub reports no live socket (None: not within `wait_s`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < wait_s:
        counts = []
        for hub in bench.hubs:
            with contextlib.suppress(OSError, TimeoutError, ValueError, IndexError):
                counts.append(await hub_sockets(hub))
        if counts and all(c == 0 for c in counts):
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    return None


def client_gc_quiet() -> None:
    """Keep the load client's own garbage collector out of the latencies (client only)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)


def require(socks: list[LeanSocket | None], errors: Counter[str], what: str) -> list[LeanSocket]:
    ok = [s for s in socks if s is not None]
    if len(ok) != len(socks):
        raise BenchError(
            f"{len(socks) - len(ok)} of {len(socks)} {what} failed to connect: "
            f"{dict(errors.most_common(5))}"
        )
    return ok


async def pace(rate: float, total: int, send: Callable[[int], None]) -> float:
    """Open-loop sender: message n leaves at n / rate seconds after start. Returns start time."""
    started = time.perf_counter()
    n = 0
    while n < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        while n < due:
            send(n)
            n += 1
        await asyncio.sleep(0.001)
    return started


# --- scenarios ------------------------------------------------------------------------------


async def with_seeder(bench: Bench, work: Callable[[Seeder], Awaitable[Any]]) -> Any:
    conn = await asyncpg.connect(bench.owner_dsn)
    try:
        seeder = await Seeder.start(conn, TokenIssuer(bench.secret, bench.args.token_ttl_s))
        return await work(seeder)
    finally:
        await conn.close()


async def scenario_connect(bench: Bench) -> list[dict[str, Any]]:
    args = bench.args
    t = time.perf_counter()
    users: list[SeededUser] = await with_seeder(bench, lambda s: s.users(args.n, "student"))
    print(f"seeded {args.n} users in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    runs = []
    for rep in range(args.repeat):
        hubs = await bench.start_hubs(args.hubs)
        await asyncio.sleep(args.settle)
        rss_before, cpu_before, client_before = bench.hub_rss_kb(), bench.hub_cpu_s(), cpu_of_self()
        servers_before = await bench.server_cpu_s()
        targets: list[tuple[int, str, RawEventHandler | None]] = [
            (hubs[i % len(hubs)].port, u.token, None) for i, u in enumerate(users)
        ]
        profiler = Profiler(bench, args.profile_s)
        socks, errors, elapsed = await connect_all(targets, args.concurrency, args.connect_timeout)
        hub_cpu = bench.hub_cpu_s() - cpu_before
        servers = server_cpu_used(servers_before, await bench.server_cpu_s())
        await profiler.wait()
        client_cpu = cpu_of_self() - client_before
        connected = sum(s is not None for s in socks)
        await asyncio.sleep(args.settle)
        rss_after = bench.hub_rss_kb()
        counted = sum([await hub_sockets(h) for h in hubs])
        await close_all(socks)
        drained = await wait_hub_drained(bench, args.disconnect_timeout)
        close_cpu = bench.hub_cpu_s() - cpu_before - hub_cpu
        run = {
            "repeat": rep + 1,
            "connections": args.n,
            "connected": connected,
            "hub_counted": counted,
            "failed": dict(errors),
            "concurrency": args.concurrency,
            "connect_s": round(elapsed, 3),
            "connections_per_s": round(connected / elapsed, 1),
            "hub_rss_before_mb": round(rss_before / 1024, 1),
            "hub_rss_after_mb": round(rss_after / 1024, 1),
            "rss_per_connection_kb": round((rss_after - rss_before) / max(1, connected), 2),
            "hub_cpu_per_connect_ms": round(hub_cpu / max(1, connected) * 1000, 3),
            "postgres_cpu_per_connect_ms": _rounded(_div(servers["postgres"], connected / 1000), 3),
            "redis_cpu_per_connect_ms": _rounded(_div(servers["redis"], connected / 1000), 3),
            "client_cpu_per_connect_ms": round(client_cpu / max(1, connected) * 1000, 3),
            "disconnect_all_s": round(drained, 2) if drained is not None else None,
            "hub_cpu_settle_disconnect_s": round(close_cpu, 2),
        }
        print(f"  run {rep + 1}: {json.dumps(run)}", file=sys.stderr)
        runs.append(run)
        await bench.stop_hubs()
    return runs


@dataclass
class Flow:
    """Book-keeping of messages sent, acked and delivered (chat and room)."""

    measure_from: float = float("inf")
    sent_at: dict[bytes, tuple[int, float]] = field(default_factory=dict)
    ack_lat: list[float] = field(default_factory=list)
    deliver_lat: list[float] = field(default_factory=list)
    acked_ok: set[int] = field(default_factory=set)
    ack_errors: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    sent: int = 0
    sent_measured: int = 0
    dups: int = 0
    echoes: int = 0
    unknown: int = 0
    other_events: Counter[str] = field(default_factory=Counter)
    last_arrival: dict[int, float] = field(default_factory=dict)

    def ack_handler(self, index: int, sent: float) -> Callable[[Any, float], None]:
        def on_ack(payload: Any, now: float) -> None:
            self.acks += 1
            if isinstance(payload, dict) and "error" not in payload:
                self.acked_ok.add(index)
                if sent >= self.measure_from:
                    self.ack_lat.append(now - sent)
            else:
                err = payload.get("error", {}) if isinstance(payload, dict) else {}
                self.ack_errors[str(err.get("code", payload))] += 1

        return on_ack

    def receiver(self, seen: set[int]) -> RawEventHandler:
        """A handler for one socket: records first deliveries, counts repeats.

        Events arrive unparsed: only client_msg_id is picked out (see raw_string_field).
        """

        def on_event(raw: bytes, now: float) -> None:
            if not raw.startswith(b'["message.new"'):
                self.other_events[_event_name(raw)] += 1
                return
            entry = self.sent_at.get(raw_string_field(raw, b"client_msg_id") or b"")
            if entry is None:
                self.unknown += 1
                return
            index, sent = entry
            if index in seen:
                self.dups += 1
                return
            seen.add(index)
            self.last_arrival[index] = now
            if sent >= self.measure_from:
                self.deliver_lat.append(now - sent)

        return on_event

    def echo(self) -> RawEventHandler:
        def on_event(raw: bytes, now: float) -> None:
            if raw.startswith(b'["message.new"'):
                self.echoes += 1
            else:
                self.other_events[_event_name(raw)] += 1

        return on_event


def _event_name(raw: bytes) -> str:
    return raw[2 : raw.find(b'"', 2)].decode(errors="replace")


async def drive(
    bench: Bench,
    flow: Flow,
    rate: float,
    duration: float,
    send: Callable[[int], None],
    delivered: Callable[[], bool],
) -> dict[str, Any]:
    """Warm up, send for `duration` at `rate`, drain; hub and client CPU over the whole."""
    args = bench.args
    total = int(rate * (args.warmup + duration))
    servers0 = await bench.server_cpu_s()
    cpu0, client0, wall0 = bench.hub_cpu_s(), cpu_of_self(), time.perf_counter()
    flow.measure_from = wall0 + args.warmup
    profiler = Profiler(bench, args.warmup + duration)
    started = await pace(rate, total, send)
    send_s = time.perf_counter() - started
    drain_started = time.perf_counter()
    while time.perf_counter() - drain_started < args.drain:
        if flow.acks >= flow.sent and delivered():
            break
        await asyncio.sleep(0.02)
    drain_s = time.perf_counter() - drain_started
    await profiler.wait()
    wall = time.perf_counter() - wall0
    hub_cpu = bench.hub_cpu_s() - cpu0
    servers = server_cpu_used(servers0, await bench.server_cpu_s())
    return {
        "wall_s": round(wall, 2),
        "send_s": round(send_s, 2),
        "drain_s": round(drain_s, 2),
        "hub_cpu_s": round(hub_cpu, 2),
        "hub_cpu_util": round(hub_cpu / wall, 3),
        "postgres_cpu_s": _rounded(servers["postgres"], 2),
        "redis_cpu_s": _rounded(servers["redis"], 2),
        "postgres_cpu_util": _rounded(_div(servers["postgres"], wall), 3),
        "redis_cpu_util": _rounded(_div(servers["redis"], wall), 3),
        "client_cpu_util": round((cpu_of_self() - client0) / wall, 3),
    }


def server_cpu_used(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
    """CPU seconds PostgreSQL and Redis spent between two readings of `server_cpu_s`."""
    used: dict[str, float | None] = {}
    for name in ("postgres", "redis"):
        b, a = before[name], after[name]
        if isinstance(a, dict):  # per backend pid: a backend that came later counts from 0
            used[name] = sum(cpu - b.get(pid, 0.0) for pid, cpu in a.items())
        else:
            used[name] = None if a is None or b is None else a - b
    return used


def _div(value: float | None, by: float) -> float | None:
    return None if value is None else value / max(by, 1e-9)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def per_unit(timing: dict[str, Any], units: int, scale: float) -> dict[str, float | None]:
    """Hub, PostgreSQL, Redis and total server CPU per unit of work (ms: 1e3, µs: 1e6)."""
    parts = {
        name: None if timing[f"{name}_cpu_s"] is None else timing[f"{name}_cpu_s"] / max(1, units)
        for name in ("hub", "postgres", "redis")
    }
    known = [v for v in parts.values() if v is not None]
    parts["server"] = sum(known) if len(known) == len(parts) else None
    return {name: _rounded(None if v is None else v * scale, 3) for name, v in parts.items()}


async def scenario_chat(bench: Bench) -> list[dict[str, Any]]:
    args = bench.args
    per_sender = args.rate / args.pairs
    if per_sender > args.message_rate_per_s:
        raise BenchError(
            f"{per_sender:.1f} messages/s a sender is over the hub's per-user "
            f"limit of {args.message_rate_per_s}: add pairs or lower --rate"
        )

    async def make(seeder: Seeder) -> tuple[list[SeededUser], list[SeededUser], list[Any]]:
        senders = await seeder.users(args.pairs, "student")
        receivers = await seeder.users(args.pairs, "teacher")
        convs = await seeder.directs(list(zip(senders, receivers, strict=True)))
        return senders, receivers, convs

    senders, receivers, convs = await with_seeder(bench, make)
    conv_ids = [str(c) for c in convs]
    runs = []
    for rep in range(args.repeat):
        hubs = await bench.start_hubs(args.hubs)
        flow = Flow()
        seen: list[set[int]] = [set() for _ in receivers]
        targets: list[tuple[int, str, RawEventHandler | None]] = [
            (hubs[0].port, u.token, flow.echo()) for u in senders
        ]
        targets += [
            (hubs[-1].port, u.token, flow.receiver(seen[i])) for i, u in enumerate(receivers)
        ]
        socks, errors, connect_s = await connect_all(
            targets, args.concurrency, args.connect_timeout
        )
        ok = require(socks, errors, "sockets")
        send_socks = ok[: args.pairs]
        client_gc_quiet()
        tag = secrets.token_hex(3)

        def send(
            n: int, send_socks: list[LeanSocket] = send_socks, flow: Flow = flow, tag: str = tag
        ) -> None:
            pair = n % args.pairs
            cmid = f"{tag}-{n}"
            now = time.perf_counter()
            flow.sent_at[cmid.encode()] = (n, now)
            flow.sent += 1
            if now >= flow.measure_from:
                flow.sent_measured += 1
            send_socks[pair].emit(
                "message.send",
                {
                    "conversation_id": conv_ids[pair],
                    "client_msg_id": cmid,
                    "content": f"hello {n}",
                    "message_type": "text",
                },
                flow.ack_handler(n, now),
            )

        def delivered(flow: Flow = flow, seen: list[set[int]] = seen) -> bool:
            return sum(len(s) for s in seen) >= len(flow.acked_ok)

        timing = await drive(bench, flow, args.rate, args.duration, send, delivered)
        delivered_all: set[int] = set().union(*seen)
        lost = len(flow.acked_ok - delivered_all)
        run = {
            "repeat": rep + 1,
            "pairs": args.pairs,
            "hubs": args.hubs,
            "offered_rate": args.rate,
            "duration_s": args.duration,
            "connect_s": round(connect_s, 2),
            "sent": flow.sent,
            "acked_ok": len(flow.acked_ok),
            "ack_errors": dict(flow.ack_errors),
            "unacked": flow.sent - flow.acks,
            "delivered": len(delivered_all),
            "lost": lost,
            "duplicated": flow.dups,
            "ack_rate": round(len(flow.acked_ok) / (timing["send_s"] + timing["drain_s"]), 1),
            "send_to_ack": latency_summary(flow.ack_lat),
            "send_to_delivery": latency_summary(flow.deliver_lat),
            # per message the hub handled (acked or delivered: under overload most of `sent`
            # is still queued, and acks may trail deliveries); server = hub + PostgreSQL + Redis
            **{
                f"{name}_cpu_per_message_ms": value
                for name, value in per_unit(timing, max(flow.acks, len(delivered_all)), 1e3).items()
            },
            **timing,
            "other_events": dict(flow.other_events),
            "echoes": flow.echoes,
        }
        print(f"  run {rep + 1}: {json.dumps(run)}", file=sys.stderr)
        runs.append(run)
        await close_all(ok)
        await wait_hub_drained(bench, 30)
        await bench.stop_hubs()
        gc.unfreeze()
    return runs


async def scenario_room(bench: Bench) -> list[dict[str, Any]]:
    args = bench.args
    senders = min(args.senders, args.members)
    if args.rate / senders > args.message_rate_per_s:
        raise BenchError("messages/s a sender is over the hub's per-user limit: add --senders")

    async def make(seeder: Seeder) -> tuple[list[SeededUser], Any]:
        teacher = await seeder.users(1, "teacher")
        members = await seeder.users(args.members, "student")
        return members, await seeder.room("group", teacher, members, "Bench room")

    members, room = await with_seeder(bench, make)
    room_id = str(room)
    runs = []
    for rep in range(args.repeat):
        hubs = await bench.start_hubs(args.hubs)
        flow = Flow()
        seen: list[set[int]] = [set() for _ in members]
        targets: list[tuple[int, str, RawEventHandler | None]] = [
            (hubs[i % len(hubs)].port, u.token, flow.receiver(seen[i]))
            for i, u in enumerate(members)
        ]
        socks, errors, connect_s = await connect_all(
            targets, args.concurrency, args.connect_timeout
        )
        ok = require(socks, errors, "members")
        client_gc_quiet()
        tag = secrets.token_hex(3)

        def send(n: int, ok: list[LeanSocket] = ok, flow: Flow = flow, tag: str = tag) -> None:
            cmid = f"{tag}-{n}"
            now = time.perf_counter()
            flow.sent_at[cmid.encode()] = (n, now)
            flow.sent += 1
            ok[n % senders].emit(
                "message.send",
                {
                    "conversation_id": room_id,
                    "client_msg_id": cmid,
                    "content": f"room {n}",
                    "message_type": "text",
                },
                flow.ack_handler(n, now),
            )

        def delivered(flow: Flow = flow, seen: list[set[int]] = seen) -> bool:
            return sum(len(s) for s in seen) >= len(flow.acked_ok) * len(seen)

        timing = await drive(bench, flow, args.rate, args.duration, send, delivered)
        expected = len(flow.acked_ok) * len(seen)
        got = sum(len(s & flow.acked_ok) for s in seen)
        sent_time = dict(flow.sent_at.values())
        completion = [
            flow.last_arrival[i] - sent_time[i]
            for i in flow.acked_ok
            if i in flow.last_arrival and sent_time[i] >= flow.measure_from
        ]
        run = {
            "repeat": rep + 1,
            "members": args.members,
            "senders": senders,
            "hubs": args.hubs,
            "offered_rate": args.rate,
            "offered_deliveries_per_s": args.rate * args.members,
            "duration_s": args.duration,
            "connect_s": round(connect_s, 2),
            "sent": flow.sent,
            "acked_ok": len(flow.acked_ok),
            "ack_errors": dict(flow.ack_errors),
            "unacked": flow.sent - flow.acks,
            "deliveries": sum(len(s) for s in seen),
            "expected": expected,
            "lost": expected - got,
            "duplicated": flow.dups,
            # achieved: everything delivered over the time it took, drain included
            "delivery_rate": round(
                sum(len(s) for s in seen) / (timing["send_s"] + timing["drain_s"]), 1
            ),
            "send_to_ack": latency_summary(flow.ack_lat),
            "send_to_delivery": latency_summary(flow.deliver_lat),
            "send_to_last_member": latency_summary(completion),
            **{
                f"{name}_cpu_per_delivery_us": value
                for name, value in per_unit(timing, sum(len(s) for s in seen), 1e6).items()
            },
            **timing,
            "other_events": dict(flow.other_events),
        }
        print(f"  run {rep + 1}: {json.dumps(run)}", file=sys.stderr)
        runs.append(run)
        await close_all(ok)
        await wait_hub_drained(bench, 30)
        await bench.stop_hubs()
        gc.unfreeze()
    return runs


async def scenario_announce(bench: Bench) -> list[dict[str, Any]]:
    args = bench.args

    async def make(seeder: Seeder) -> tuple[SeededUser, list[SeededUser], Any]:
        teacher = await seeder.users(1, "teacher")
        members = await seeder.users(args.members, "student")
        return teacher[0], members, await seeder.room("announcement", teacher, members, "Notice")

    teacher, members, room = await with_seeder(bench, make)
    room_id = str(room)
    runs = []
    hubs = await bench.start_hubs(args.hubs)
    try:
        current = {"cmid": b""}
        arrivals: list[float] = []
        everyone = asyncio.Event()
        dups = [0]
        seen: list[set[bytes]] = [set() for _ in members]

        def member(box: set[bytes]) -> RawEventHandler:
            def on_event(raw: bytes, now: float) -> None:
                if not raw.startswith(b'["message.new"'):
                    return
                cmid = raw_string_field(raw, b"client_msg_id") or b""
                if cmid in box:
                    dups[0] += 1
                    return
                box.add(cmid)
                if cmid == current["cmid"]:
                    arrivals.append(now)
                    if len(arrivals) == args.members:
                        everyone.set()

            return on_event

        targets: list[tuple[int, str, RawEventHandler | None]] = [
            (hubs[0].port, teacher.token, None)
        ]
        targets += [
            (hubs[i % len(hubs)].port, u.token, member(seen[i])) for i, u in enumerate(members)
        ]
        socks, errors, connect_s = await connect_all(
            targets, args.concurrency, args.connect_timeout
        )
        ok = require(socks, errors, "members")
        client_gc_quiet()
        sender = ok[0]
        tag = secrets.token_hex(3)
        for rep in range(args.warmup_sends + args.repeat):
            arrivals.clear()
            everyone.clear()
            cmid = f"{tag}-{rep}"
            current["cmid"] = cmid.encode()
            cpu0, servers0 = bench.hub_cpu_s(), await bench.server_cpu_s()
            acked: list[float] = []
            ack_event = asyncio.Event()

            def on_ack(
                payload: Any,
                now: float,
                acked: list[float] = acked,
                ack_event: asyncio.Event = ack_event,
            ) -> None:
                acked.append(now)
                ack_event.set()

            started = time.perf_counter()
            sender.emit(
                "message.send",
                {
                    "conversation_id": room_id,
                    "client_msg_id": cmid,
                    "content": f"notice {rep}",
                    "message_type": "text",
                },
                on_ack,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.drain):
                    await everyone.wait()
                    await ack_event.wait()
            hub_cpu = bench.hub_cpu_s() - cpu0
            servers = server_cpu_used(servers0, await bench.server_cpu_s())
            if rep < args.warmup_sends:
                await asyncio.sleep(args.pause)
                continue
            got = sorted(a - started for a in arrivals)
            run = {
                "repeat": rep + 1 - args.warmup_sends,
                "members": args.members,
                "hubs": args.hubs,
                "connect_s": round(connect_s, 2),
                "received": len(got),
                "lost": args.members - len(got),
                "duplicated": dups[0],
                "ack_ms": round((acked[0] - started) * 1000, 2) if acked else None,
                "first_ms": round(got[0] * 1000, 2) if got else None,
                "median_member_ms": round(percentile(got, 50) * 1000, 2) if got else None,
                "last_member_ms": round(got[-1] * 1000, 2) if got else None,
                "hub_cpu_ms": round(hub_cpu * 1000, 1),
                "postgres_cpu_ms": _rounded(_div(servers["postgres"], 1e-3), 1),
                "redis_cpu_ms": _rounded(_div(servers["redis"], 1e-3), 1),
            }
            print(f"  send {run['repeat']}: {json.dumps(run)}", file=sys.stderr)
            runs.append(run)
            await asyncio.sleep(args.pause)
        await close_all(ok)
        await wait_hub_drained(bench, 60)
    finally:
        await bench.stop_hubs()
    return runs


# --- reporting ------------------------------------------------------------------------------


# --- the bus across 1, 2, 4 hubs (issue 12, target 4) ----------------------------------------


def bus_placement(pair: int, hubs: int, placement: str) -> tuple[int, int]:
    """(sender's hub, receiver's hub) of a pair: both on one hub, or on neighbouring hubs."""
    home = pair % hubs
    return home, (home + 1) % hubs if placement == "cross" else home


async def bus_round(
    bench: Bench,
    hub_count: int,
    rep: int,
    users: tuple[list[SeededUser], list[SeededUser]],
    conv_ids: list[str],
) -> dict[str, Any]:
    """One run of the bus scenario on `hub_count` hubs: pairs spread over the hubs."""
    args = bench.args
    senders, receivers = users
    hubs = await bench.start_hubs(hub_count)
    flow = Flow()
    seen: list[set[int]] = [set() for _ in receivers]
    placed = [bus_placement(i, hub_count, args.placement) for i in range(args.pairs)]
    targets: list[tuple[int, str, RawEventHandler | None]] = [
        (hubs[placed[i][0]].port, u.token, flow.echo()) for i, u in enumerate(senders)
    ]
    targets += [
        (hubs[placed[i][1]].port, u.token, flow.receiver(seen[i])) for i, u in enumerate(receivers)
    ]
    socks, errors, connect_s = await connect_all(targets, args.concurrency, args.connect_timeout)
    ok = require(socks, errors, "sockets")
    send_socks = ok[: args.pairs]
    client_gc_quiet()
    tag = secrets.token_hex(3)

    def send(n: int) -> None:
        pair = n % args.pairs
        cmid = f"{tag}-{n}"
        now = time.perf_counter()
        flow.sent_at[cmid.encode()] = (n, now)
        flow.sent += 1
        if now >= flow.measure_from:
            flow.sent_measured += 1
        send_socks[pair].emit(
            "message.send",
            {"conversation_id": conv_ids[pair], "client_msg_id": cmid, "content": f"hello {n}"},
            flow.ack_handler(n, now),
        )

    def delivered() -> bool:
        return sum(len(s) for s in seen) >= len(flow.acked_ok)

    # Each hub's CPU with its sockets connected and no messages (presence refresh, pings, bus
    # heartbeats): paid per hub whatever the rate, so it is reported apart from the per-message
    # cost, which is what the bus's routing changes.
    idle0, idle_started = bench.hub_cpu_s(), time.perf_counter()
    await asyncio.sleep(args.idle)
    idle_per_s = (bench.hub_cpu_s() - idle0) / (time.perf_counter() - idle_started)
    per_hub0 = [h.cpu_s() for h in hubs]
    rate = args.rate * hub_count if args.rate_per_hub else args.rate
    timing = await drive(bench, flow, rate, args.duration, send, delivered)
    net_cpu_s = timing["hub_cpu_s"] - idle_per_s * timing["wall_s"]
    per_hub = [round(h.cpu_s() - c, 2) for h, c in zip(hubs, per_hub0, strict=True)]
    delivered_all: set[int] = set().union(*seen)
    run = {
        "repeat": rep + 1,
        "hubs": hub_count,
        "placement": args.placement,
        "pairs": args.pairs,
        "offered_rate": rate,
        "connect_s": round(connect_s, 2),
        "sent": flow.sent,
        "acked_ok": len(flow.acked_ok),
        "ack_errors": dict(flow.ack_errors),
        "lost": len(flow.acked_ok - delivered_all),
        "duplicated": flow.dups,
        "send_to_delivery": latency_summary(flow.deliver_lat),
        "hub_cpu_per_message_ms": round(timing["hub_cpu_s"] / max(1, flow.acks) * 1000, 3),
        "hub_idle_cpu_util": round(idle_per_s, 4),
        "hub_cpu_per_message_net_ms": round(net_cpu_s / max(1, flow.acks) * 1000, 3),
        "hub_cpu_s_each": per_hub,
        **timing,
    }
    print(f"  {hub_count} hub(s), run {rep + 1}: {json.dumps(run)}", file=sys.stderr)
    await close_all(ok)
    await wait_hub_drained(bench, 30)
    await bench.stop_hubs()
    gc.unfreeze()
    return run


async def scenario_bus(bench: Bench) -> list[dict[str, Any]]:
    """The same pairs and total rate on 1, 2 and 4 hubs (--hub-counts): hub CPU per message
    should not grow with the number of hubs. Runs alternate the counts, so a noisy minute of
    the shared machine does not fall on one count only."""
    args = bench.args
    top_rate = args.rate * max(int(c) for c in str(args.hub_counts).split(","))
    if (top_rate if args.rate_per_hub else args.rate) / args.pairs > args.message_rate_per_s:
        raise BenchError("messages/s a sender is over the hub's per-user limit: add --pairs")

    async def make(seeder: Seeder) -> tuple[list[SeededUser], list[SeededUser], list[Any]]:
        senders = await seeder.users(args.pairs, "student")
        receivers = await seeder.users(args.pairs, "teacher")
        convs = await seeder.directs(list(zip(senders, receivers, strict=True)))
        return senders, receivers, convs

    senders, receivers, convs = await with_seeder(bench, make)
    conv_ids = [str(c) for c in convs]
    counts = [int(c) for c in str(args.hub_counts).split(",")]
    runs = []
    for rep in range(args.repeat):
        for count in counts:
            runs.append(await bus_round(bench, count, rep, (senders, receivers), conv_ids))
    return runs


def bus_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per hub count (the generic medians would mix the counts)."""
    by_count: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        by_count.setdefault(int(run["hubs"]), []).append(run)
    return {f"hubs_{count}": medians(group) for count, group in sorted(by_count.items())}


# --- a hub restarted under N clients (issue 12, target 2) -------------------------------------


@dataclass(eq=False)
class Peer:
    """What one client of the restart scenario has seen of its direct conversation.

    `watermark` is the highest seq up to which it has every message (live, by sync, or its
    own acked sends): the position it syncs from, so a hole in live delivery is filled too."""

    conv_id: str
    watermark: int = 0
    ahead: set[int] = field(default_factory=set)
    got: set[bytes] = field(default_factory=set)  # client_msg_ids, live or by sync
    live: set[bytes] = field(default_factory=set)
    dups: int = 0
    # Live messages that came while an earlier seq was still missing: expected between the
    # drop and the end of the sync (the sync fills the hole); otherwise a reordering or a hole.
    gaps_catching_up: int = 0
    gaps: int = 0
    synced_at: float | None = None
    syncs: int = 0

    def saw(self, seq: int) -> None:
        if seq <= self.watermark:
            return
        self.ahead.add(seq)
        while self.watermark + 1 in self.ahead:
            self.watermark += 1
            self.ahead.discard(self.watermark)


@dataclass
class Restart:
    """One run of the restart scenario: clients, their sends, and the recovery's counters."""

    args: argparse.Namespace
    peers: list[Peer]
    socks: list[ReconnectingSocket] = field(default_factory=list)
    senders: int = 0  # pairs whose first member sends
    pending: list[dict[bytes, dict[str, Any]]] = field(default_factory=list)
    acked: dict[bytes, tuple[int, str]] = field(default_factory=dict)  # cmid -> (pair, id)
    ack_errors: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    sync_errors: Counter[str] = field(default_factory=Counter)
    other_events: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    held: int = 0  # emits (sends, retries) while the sender was down: made again on reconnect
    resent: int = 0
    stored_twice: int = 0  # a resent client_msg_id acked with another message id
    kill_at: float = float("inf")
    rng: random.Random = field(default_factory=lambda: random.Random(secrets.randbits(32)))

    def receiver(self, peer: Peer) -> RawEventHandler:
        def on_event(raw: bytes, now: float) -> None:
            if not raw.startswith(b'["message.new"'):
                self.other_events[_event_name(raw)] += 1
                return
            message = loads(raw)[1]
            seq = int(message["seq"])
            if seq > peer.watermark + 1:
                if peer.synced_at is None and now >= self.kill_at:
                    peer.gaps_catching_up += 1
                else:
                    peer.gaps += 1
            peer.saw(seq)
            cmid = str(message.get("client_msg_id") or "").encode()
            if cmid in peer.live:
                peer.dups += 1
                return
            peer.live.add(cmid)
            peer.got.add(cmid)

        return on_event

    # -- sending ------------------------------------------------------------------------------
    def send(self, n: int, tag: str) -> None:
        pair = n % self.senders
        cmid = f"{tag}-{n}"
        self.pending[pair][cmid.encode()] = {
            "conversation_id": self.peers[pair].conv_id,
            "client_msg_id": cmid,
            "content": f"hello {n}",
            "message_type": "text",
        }
        self.sent += 1
        self.emit(pair, cmid.encode())

    def emit(self, pair: int, cmid: bytes) -> None:
        payload = self.pending[pair].get(cmid)
        sock = self.socks[pair].sock
        if payload is None:
            return
        if sock is None:  # as socket.io clients buffer: sent when connected again
            self.held += 1
            return
        sock.emit("message.send", payload, self.on_ack(pair, cmid))

    def on_ack(self, pair: int, cmid: bytes) -> Callable[[Any, float], None]:
        def on_ack(payload: Any, now: float) -> None:
            if isinstance(payload, dict) and "error" not in payload:
                earlier = self.acked.get(cmid)
                if earlier is not None and earlier[1] != payload["id"]:
                    self.stored_twice += 1
                self.acked[cmid] = (pair, str(payload["id"]))
                self.pending[pair].pop(cmid, None)
                self.peers[pair].saw(int(payload["seq"]))
                return
            err = payload.get("error", {}) if isinstance(payload, dict) else {}
            self.ack_errors[str(err.get("code", payload))] += 1
            if err.get("retry_after") is not None:
                delay = float(err["retry_after"]) * (1 + self.rng.random())
                asyncio.get_running_loop().call_later(delay, self.emit, pair, cmid)
            else:
                self.pending[pair].pop(cmid, None)

        return on_ack

    # -- coming back ----------------------------------------------------------------------------
    def on_up(self, index: int) -> UpHandler:
        async def up(rs: ReconnectingSocket) -> None:
            if index < self.senders:  # what the dead connection never had acked, first
                for cmid in list(self.pending[index]):
                    self.resent += 1
                    self.emit(index, cmid)
            if not self.args.no_sync:
                await self.resync(rs, self.peers[index])

        return up

    async def resync(self, rs: ReconnectingSocket, peer: Peer) -> None:
        """`sync` from the watermark until the hub has nothing more; busy answers are retried
        after their retry_after (with jitter). A drop ends it: the next connection syncs."""
        while True:
            sock = rs.sock
            if sock is None:
                return
            peer.syncs += 1
            try:
                reply = await sock.call(
                    "sync",
                    {"conversations": {peer.conv_id: peer.watermark}, "limit": 100},
                    self.args.sync_timeout,
                )
            except TimeoutError:
                self.sync_errors["timeout"] += 1
                continue
            except ConnectionError:
                self.sync_errors["dropped"] += 1
                return
            error = reply.get("error") if isinstance(reply, dict) else {"code": repr(reply)}
            if error is not None:
                self.sync_errors[str(error.get("code"))] += 1
                await asyncio.sleep(float(error.get("retry_after") or 1) * (1 + self.rng.random()))
                continue
            entry = reply["conversations"][peer.conv_id]
            if "error" in entry:
                self.sync_errors[f"conversation: {entry['error'].get('code')}"] += 1
                return
            for message in entry["messages"]:
                peer.saw(int(message["seq"]))
                peer.got.add(str(message.get("client_msg_id") or "").encode())
            if not entry["has_more"]:
                peer.synced_at = time.perf_counter()
                return

    # -- results ----------------------------------------------------------------------------------
    def lost(self) -> int:
        return sum(
            cmid not in self.peers[self.recipient(pair)].got
            for cmid, (pair, _) in self.acked.items()
        )

    def recipient(self, pair: int) -> int:
        """The peer that receives what pair `pair` sends: its second member."""
        return len(self.peers) // 2 + pair

    def delivered(self) -> bool:
        return not any(self.pending) and self.lost() == 0


async def pace_until(rate: float, stop: asyncio.Event, send: Callable[[int], None]) -> None:
    """Open-loop sender until `stop`: message n leaves n / rate seconds after the start."""
    started = time.perf_counter()
    n = 0
    while not stop.is_set():
        due = int((time.perf_counter() - started) * rate) + 1
        while n < due:
            send(n)
            n += 1
        await asyncio.sleep(0.005)


async def wait_for(done: Callable[[], bool], wait_s: float, step: float = 0.05) -> bool:
    deadline = time.perf_counter() + wait_s
    while not done():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def scenario_restart(bench: Bench) -> list[dict[str, Any]]:
    """N users in N/2 direct pairs on one hub; a light send load; the hub is killed (or
    stopped) and started again on its port; every client comes back by itself and syncs."""
    args = bench.args
    if args.n % 2 or args.senders > args.n // 2:
        raise BenchError("--n must be even, and --senders at most --n / 2")
    if args.rate / args.senders > args.message_rate_per_s:
        raise BenchError("messages/s a sender is over the hub's per-user limit: add --senders")

    async def make(seeder: Seeder) -> tuple[list[SeededUser], list[Any]]:
        firsts = await seeder.users(args.n // 2, "student")
        seconds = await seeder.users(args.n // 2, "teacher")
        convs = await seeder.directs(list(zip(firsts, seconds, strict=True)))
        return firsts + seconds, convs

    t = time.perf_counter()
    users, convs = await with_seeder(bench, make)
    print(f"seeded {args.n} users in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    conv_ids = [str(c) for c in convs] * 2
    runs = []
    for rep in range(args.repeat):
        runs.append(await restart_round(bench, rep, users, conv_ids))
    return runs


async def restart_round(
    bench: Bench, rep: int, users: list[SeededUser], conv_ids: list[str]
) -> dict[str, Any]:
    args = bench.args
    (hub,) = await bench.start_hubs(1)
    # Each client starts where its conversation is (a repeat reuses the conversations).
    conn = await asyncpg.connect(bench.owner_dsn)
    try:
        rows = await conn.fetch("SELECT id::text, last_seq FROM conversations")
    finally:
        await conn.close()
    last_seq = {r["id"]: int(r["last_seq"]) for r in rows}
    st = Restart(args, [Peer(c, last_seq[c]) for c in conv_ids], senders=args.senders)
    st.pending = [{} for _ in range(st.senders)]
    targets: list[tuple[int, str, RawEventHandler | None]] = [
        (hub.port, u.token, st.receiver(peer)) for u, peer in zip(users, st.peers, strict=True)
    ]
    socks, errors, connect_s = await connect_all(targets, args.concurrency, args.connect_timeout)
    started = time.perf_counter() - connect_s
    while None in socks and time.perf_counter() - started < args.recover_timeout:
        # Refused by a per-address cap (--connects-per-ip-per-s): the rest, a second later.
        await asyncio.sleep(1)
        missing = [i for i, sock in enumerate(socks) if sock is None]
        again, _, _ = await connect_all(
            [targets[i] for i in missing], args.concurrency, args.connect_timeout
        )
        for i, sock in zip(missing, again, strict=True):
            socks[i] = sock
    connect_s = time.perf_counter() - started
    backoff = Backoff(args.backoff_first, args.backoff_max, args.backoff_jitter)
    st.socks = [
        ReconnectingSocket(
            HOST,
            hub.port,
            u.token,
            t[2],
            backoff,
            st.rng,
            st.failures,
            st.on_up(i),
            args.connect_timeout,
        ).attach(sock)
        for i, (u, t, sock) in enumerate(
            zip(users, targets, require(socks, errors, "clients"), strict=True)
        )
    ]
    print(f"  run {rep + 1}: {args.n} connected in {connect_s:.1f} s", file=sys.stderr)
    client_gc_quiet()
    stop = asyncio.Event()
    tag = secrets.token_hex(3)
    sender = asyncio.ensure_future(pace_until(args.rate, stop, lambda n: st.send(n, tag)))
    await asyncio.sleep(args.before)
    acked_before = len(st.acked)
    servers0, client0 = await bench.server_cpu_s(), cpu_of_self()
    st.kill_at = time.perf_counter()
    signum = signal.SIGKILL if args.signal == "kill" else signal.SIGTERM
    hub, exit_s = await bench.restart_hub(hub, signum)

    profilers: list[Profiler] = []

    async def ready_at() -> float:
        await bench._wait_ready(hub)
        # py-spy cannot attach to an interpreter still starting: record from readiness.
        profilers.append(Profiler(bench, args.profile_s))
        return time.perf_counter()

    ready = asyncio.ensure_future(ready_at())
    everyone_up = await wait_for(
        lambda: all(s.sock is not None and s.drops for s in st.socks), args.recover_timeout
    )
    all_up = time.perf_counter() - st.kill_at
    everyone_synced = not args.no_sync and await wait_for(
        lambda: all(p.synced_at is not None and p.synced_at >= st.kill_at for p in st.peers),
        max(1.0, args.recover_timeout - all_up),
    )
    recovered = time.perf_counter()
    hub_cpu = hub.cpu_s()  # the new process's whole life: start-up and every reconnection
    servers = server_cpu_used(servers0, await bench.server_cpu_s())
    client_cpu = cpu_of_self() - client0
    ready_s = None
    with contextlib.suppress(BenchError, TimeoutError):
        ready_s = round(await asyncio.wait_for(ready, 5) - st.kill_at, 2)
    await asyncio.sleep(args.after)
    stop.set()
    await sender
    await wait_for(st.delivered, args.drain)
    for profiler in profilers:
        await profiler.wait()
    counted = await hub_sockets(hub)
    up = sorted(s.up_at - st.kill_at for s in st.socks if s.up_at is not None and s.drops)
    synced = sorted(
        p.synced_at - st.kill_at for p in st.peers if p.synced_at and p.synced_at >= st.kill_at
    )
    wall = recovered - st.kill_at
    run = {
        "repeat": rep + 1,
        "clients": args.n,
        "signal": args.signal,
        "offered_rate": args.rate,
        "connect_s": round(connect_s, 2),
        "old_hub_exit_s": round(exit_s, 2),
        "hub_ready_s": ready_s,
        "dropped": sum(s.drops > 0 for s in st.socks),
        "reconnected": len(up),
        "first_reconnect_s": round(up[0], 2) if up else None,
        "never_reconnected": args.n - len(up) if not everyone_up else 0,
        "reconnect_p50_s": round(percentile(up, 50), 2),
        "reconnect_p99_s": round(percentile(up, 99), 2),
        "all_reconnected_s": round(up[-1], 2) if everyone_up and up else None,
        "synced": len(synced),
        "sync_p50_s": round(percentile(synced, 50), 2),
        "sync_p99_s": round(percentile(synced, 99), 2),
        "all_synced_s": round(synced[-1], 2) if everyone_synced and synced else None,
        "attempts": sum(s.attempts for s in st.socks),
        "failed_attempts": sum(st.failures.values()),
        "failures": dict(st.failures.most_common()),
        "syncs": sum(p.syncs for p in st.peers),
        "sync_errors": dict(st.sync_errors.most_common()),
        "hub_cpu_recovery_s": round(hub_cpu, 2),
        "hub_cpu_util": round(hub_cpu / wall, 3),
        "postgres_cpu_s": _rounded(servers["postgres"], 2),
        "redis_cpu_s": _rounded(servers["redis"], 2),
        "client_cpu_util": round(client_cpu / wall, 3),
        "hub_counted": counted,
        "sent": st.sent,
        "acked_before_kill": acked_before,
        "acked_ok": len(st.acked),
        "held_while_down": st.held,
        "resent": st.resent,
        "ack_errors": dict(st.ack_errors),
        "unacked": sum(len(p) for p in st.pending),
        "lost": st.lost(),
        "duplicated": sum(p.dups for p in st.peers) + st.stored_twice,
        "stored_twice": st.stored_twice,
        "live_gaps_catching_up": sum(p.gaps_catching_up for p in st.peers),
        "live_gaps_otherwise": sum(p.gaps for p in st.peers),
        "other_events": dict(st.other_events),
    }
    print(f"  run {rep + 1}: {json.dumps(run)}", file=sys.stderr)
    for s in st.socks:
        s.close()
    await asyncio.sleep(0)
    await wait_hub_drained(bench, 60)
    await bench.stop_hubs()
    gc.unfreeze()
    return run


def _flatten(run: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in run.items():
        if isinstance(value, dict) and key in (
            "send_to_ack",
            "send_to_delivery",
            "send_to_last_member",
        ):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric field over the runs (the other fields of the first run)."""
    columns: dict[str, list[Any]] = {}
    for run in runs:
        for key, value in _flatten(run):
            columns.setdefault(key, []).append(value)
    out: dict[str, Any] = {}
    for key, values in columns.items():
        numbers = [
            v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
        ]
        if key != "repeat" and numbers and len(numbers) == len(values):
            out[key] = round(statistics.median(numbers), 3)
        elif key != "repeat":
            out[key] = (
                values[0] if len({json.dumps(v, sort_keys=True) for v in values}) == 1 else values
            )
    return out


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("python-socketio", "python-engineio", "uvicorn", "uvloop", "websockets"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        **versions,
    }


def print_table(scenario: str, runs: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    keys = [k for k, v in summary.items() if not isinstance(v, (dict, list))]
    width = max(len(k) for k in keys) if keys else 10
    print(f"\n{scenario}: median of {len(runs)} run(s)")
    print("-" * (width + 40))
    for key in keys:
        values = [dict(_flatten(r)).get(key) for r in runs]
        shown = ", ".join(str(v) for v in values) if len(runs) > 1 else ""
        print(f"{key:<{width}}  {summary[key]!s:>12}   {shown}")
    for key, value in summary.items():
        if isinstance(value, (dict, list)) and value:
            print(f"{key:<{width}}  {json.dumps(value)}")


# --- main -----------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft


def pin_client(args: argparse.Namespace) -> bool:
    cores = os.sched_getaffinity(0)
    if args.no_pin or len(cores) < 2 or not {args.hub_core, args.client_core} <= cores:
        return False
    os.sched_setaffinity(0, {args.client_core})
    return True


def sockets_needed(args: argparse.Namespace) -> int:
    if args.scenario == "bus":
        return 2 * int(args.pairs)
    if args.scenario in ("connect", "restart"):
        return int(args.n)
    if args.scenario == "chat":
        return 2 * int(args.pairs)
    return int(args.members) + 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.servers == "embedded":
        servers = await asyncio.to_thread(Servers.embedded)
        args.pg_admin, args.redis_url = servers.pg_admin, servers.redis_url
    else:
        servers = Servers(args.pg_admin, args.redis_url)
    require_local(args.pg_admin)
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost", "unix://")):
        raise BenchError("the benchmark only talks to a Redis on 127.0.0.1")
    bench = Bench(args, servers=servers)
    bench.pinned = pin_client(args)
    fd_limit = raise_fd_limit(sockets_needed(args) + 200)
    if fd_limit < sockets_needed(args) + 100:
        raise BenchError(
            f"open-file limit {fd_limit} is too low for {sockets_needed(args)} sockets"
        )
    bench.secret = secrets.token_urlsafe(40)
    bench.namespace = f"dsbench-{secrets.token_hex(4)}"
    bench.db_name = f"ds_bench_{secrets.token_hex(4)}"
    scenario = {
        "connect": scenario_connect,
        "chat": scenario_chat,
        "room": scenario_room,
        "announce": scenario_announce,
        "bus": scenario_bus,
        "restart": scenario_restart,
    }[args.scenario]
    started = time.perf_counter()
    try:
        bench.owner_dsn = await create_database(args.pg_admin, bench.db_name)
        async with asyncio.timeout(args.max_seconds):
            runs = await scenario(bench)
    finally:
        await bench.stop_hubs()
        with contextlib.suppress(Exception):
            await bench.cleanup_redis()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                await drop_database(args.pg_admin, bench.db_name)
        await asyncio.to_thread(servers.stop)
    params = {
        k: v
        for k, v in vars(args).items()
        if k not in ("json", "pg_admin", "redis_url", "func", "py_spy_bin")
    }
    return {
        "scenario": args.scenario,
        "params": params,
        "machine": machine(),
        "pinned": {"hubs": args.hub_core, "client": args.client_core} if bench.pinned else None,
        "fd_limit": fd_limit,
        "hub_logs": str(bench.log_dir),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "runs": runs,
        "median": medians(runs),
        **({"by_hubs": bus_summary(runs)} if args.scenario == "bus" else {}),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="scenario", required=True)

    def common(sp: argparse.ArgumentParser, repeat: int) -> None:
        sp.add_argument("--hubs", type=int, choices=(1, 2), default=1)
        sp.add_argument("--repeat", type=int, default=repeat, help="runs; medians reported")
        sp.add_argument("--concurrency", type=int, default=500, help="handshakes in flight at once")
        sp.add_argument("--connect-timeout", type=float, default=30.0)
        sp.add_argument("--json", type=Path, help="write the results here")
        sp.add_argument(
            "--pg-admin",
            default=os.environ.get(
                "BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
            ),
            help="URL of a role that may create databases (loopback only)",
        )
        sp.add_argument(
            "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
        )
        sp.add_argument(
            "--message-rate-per-s",
            type=int,
            default=10,
            help="MESSAGE_RATE_PER_S given to the hubs (their default)",
        )
        sp.add_argument(
            "--rate-limit-per-minute",
            type=int,
            default=100,
            help="RATE_LIMIT_PER_MINUTE given to the hubs (their default)",
        )
        sp.add_argument(
            "--servers",
            choices=("embedded", "local"),
            default="embedded",
            help="embedded: start PostgreSQL and Redis for this run (their CPU is all ours); "
            "local: use --pg-admin and --redis-url (only our PostgreSQL backends are counted)",
        )
        sp.add_argument(
            "--connects-per-ip-per-s",
            type=int,
            default=1_000_000,
            help="CONNECTS_PER_IP_PER_S given to the hubs (theirs is 50: every client here "
            "comes from 127.0.0.1)",
        )
        sp.add_argument("--token-ttl-s", type=int, default=3600)
        sp.add_argument("--hub-core", type=int, default=0)
        sp.add_argument("--client-core", type=int, default=1)
        sp.add_argument("--no-pin", action="store_true", help="do not set CPU affinities")
        sp.add_argument("--keep-db", action="store_true")
        sp.add_argument(
            "--max-seconds", type=float, default=1800, help="give up (and clean up) after this long"
        )
        sp.add_argument(
            "--py-spy",
            type=Path,
            help="record hub 1 with py-spy (raw/collapsed stacks) to this file",
        )
        sp.add_argument("--py-spy-bin", default="", help="path of py-spy if not on PATH")
        sp.add_argument(
            "--hub-src",
            type=Path,
            default=REPO,
            help="source tree the hubs run from (default: this checkout); e.g. "
            "`git worktree add /tmp/hub-base <commit>` to measure another commit",
        )

    c = sub.add_parser("connect", help="N concurrent authenticated connections")
    c.add_argument("--n", type=int, default=1000)
    c.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS")
    c.add_argument("--disconnect-timeout", type=float, default=120.0)
    c.add_argument(
        "--profile-s",
        type=float,
        default=10.0,
        help="seconds of py-spy recording from the first connection (with --py-spy)",
    )
    common(c, 3)

    ch = sub.add_parser("chat", help="1:1 chat between M pairs")
    ch.add_argument("--pairs", type=int, default=100)
    ch.add_argument("--rate", type=float, default=200.0, help="messages/s in all")
    ch.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    common(ch, 3)

    r = sub.add_parser("room", help="a group conversation with N members, R messages/s")
    r.add_argument("--members", type=int, default=200)
    r.add_argument("--senders", type=int, default=10)
    r.add_argument("--rate", type=float, default=20.0, help="messages/s into the room")
    r.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    common(r, 3)

    a = sub.add_parser("announce", help="one message to an announcement with N online members")
    a.add_argument("--members", type=int, default=1000)
    a.add_argument("--warmup-sends", type=int, default=1)
    a.add_argument("--pause", type=float, default=1.0, help="seconds between sends")
    common(a, 5)

    bs = sub.add_parser("bus", help="the same pairs and rate on 1, 2 and 4 hubs")
    bs.add_argument("--pairs", type=int, default=200)
    bs.add_argument("--rate", type=float, default=200.0, help="messages/s in all")
    bs.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    bs.add_argument("--hub-counts", default="1,2,4", help="comma-separated hub counts")
    bs.add_argument(
        "--placement",
        choices=("local", "cross"),
        default="local",
        help="a pair on one hub, or its receiver on the next hub",
    )
    bs.add_argument(
        "--rate-per-hub",
        action="store_true",
        help="--rate is per hub (4 hubs: 4x the messages): each hub's own load stays the same",
    )
    bs.add_argument(
        "--idle",
        type=float,
        default=5.0,
        help="seconds of hub CPU read with every socket connected and no load (net of it: "
        "hub_cpu_per_message_net_ms)",
    )
    common(bs, 2)

    rs = sub.add_parser("restart", help="a hub killed and restarted under N clients")
    rs.add_argument("--n", type=int, default=10000, help="clients, in N/2 direct pairs")
    rs.add_argument("--senders", type=int, default=200, help="pairs that send")
    rs.add_argument("--rate", type=float, default=100.0, help="messages/s in all")
    rs.add_argument("--signal", choices=("kill", "term"), default="kill")
    rs.add_argument("--before", type=float, default=5.0, help="seconds of load before the kill")
    rs.add_argument("--after", type=float, default=5.0, help="seconds of load after recovery")
    rs.add_argument("--recover-timeout", type=float, default=180.0)
    rs.add_argument("--sync-timeout", type=float, default=20.0, help="seconds for a sync ack")
    rs.add_argument(
        "--no-sync",
        action="store_true",
        help="clients do not sync after reconnecting (what sync costs; `lost` must then show "
        "the messages stored while their recipient was away)",
    )
    rs.add_argument("--backoff-first", type=float, default=1.0, help="first delay (scaled)")
    rs.add_argument("--backoff-max", type=float, default=5.0)
    rs.add_argument("--backoff-jitter", type=float, default=0.5, help="delay *= 1 - U(0, j)")
    rs.add_argument(
        "--profile-s",
        type=float,
        default=40.0,
        help="seconds of py-spy recording of the new hub from its readiness (with --py-spy)",
    )
    common(rs, 1)
    rs.add_argument("--drain", type=float, default=15.0, help="seconds for the last acks")

    for sp in (ch, r, a, bs):
        sp.add_argument(
            "--warmup",
            type=float,
            default=3.0,
            help="seconds of load before measuring (not counted)",
        )
        sp.add_argument(
            "--drain",
            type=float,
            default=15.0,
            help="seconds to wait for outstanding acks and deliveries",
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("settle", "disconnect_timeout"):
        if not hasattr(args, name):
            setattr(args, name, 2.0 if name == "settle" else 60.0)
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            result = runner.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"hub_bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print_table(args.scenario, result["runs"], result["median"])
    for count, summary in result.get("by_hubs", {}).items():
        print_table(
            f"bus, {count}", [r for r in result["runs"] if f"hubs_{r['hubs']}" == count], summary
        )
    print(f"\nmachine: {json.dumps(result['machine'])}; pinned: {result['pinned']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
