"""Erasing a person with many messages: wall time, and what it does to other people's sends.

Makes a throw-away database on the server named by DATABASE_URL (REDIS_URL for Redis), seeds
`--messages` messages by one person (bulk COPY, random client ids as clients send them) across
`--conversations` conversations, each shared with another member, plus `--control`
conversations the person is not in, and `--notifications` / `--audit` rows of other people
(what the redaction step reads).

The senders run in a separate process (their own event loop and pool), paced at `--rate`
messages a second each: half of them in conversations shared with the person (they compete
with the erasure for those conversations' row locks), half in the control conversations. They
send for `--baseline` seconds, then the erasure runs in this process while they go on, then
they send `--after` seconds more: baseline and erasure come from the same run. Beside them a
sampler reads pg_stat_activity every 10 ms and keeps the longest wait on a lock it saw.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python loadtest/erasure_bench.py [--messages 50000] [--senders 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.bus import NullBus
from hub.chat.messages import send_message
from hub.context import Actor, HubContext
from hub.privacy import erase
from hub.privacy.requests import Requester, open_erasure
from hub.services import close_context, open_context
from hub.settings import Settings
from schema.migrate import migrate
from schema.models.chat import SendMessage


@dataclass(frozen=True)
class Sender:
    user_id: str
    session_id: str
    conversation_id: str
    shared: bool


async def seed(url: str, args: argparse.Namespace) -> tuple[uuid.UUID, list[Sender]]:
    conn = await asyncpg.connect(url)
    try:
        zone = await conn.fetchval("SELECT id FROM zones WHERE slug = 'kzone'")
        org = await conn.fetchval(
            "INSERT INTO organizations (zone_id, name) VALUES ($1, 'Bench') RETURNING id", zone
        )

        async def user(name: str) -> uuid.UUID:
            uid: uuid.UUID = await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name)
                   VALUES ($1, '!', $2) RETURNING id""",
                f"{name}-{secrets.token_hex(4)}@bench.example",
                name,
            )
            await conn.execute(
                "INSERT INTO memberships (org_id, zone_id, user_id, role) "
                "VALUES ($1, $2, $3, 'student')",
                org,
                zone,
                uid,
            )
            return uid

        async def room(members: list[uuid.UUID], last_seq: int) -> uuid.UUID:
            conv: uuid.UUID = await conn.fetchval(
                """INSERT INTO conversations (zone_id, org_id, kind, title, last_seq, change_seq)
                   VALUES ($1, $2, 'group', 'room', $3, $3) RETURNING id""",
                zone,
                org,
                last_seq,
            )
            await conn.executemany(
                "INSERT INTO participants (conversation_id, user_id, zone_id, org_id) "
                "VALUES ($1, $2, $3, $4)",
                [(conv, m, zone, org) for m in members],
            )
            return conv

        async def session(uid: uuid.UUID) -> uuid.UUID:
            sid: uuid.UUID = await conn.fetchval(
                "INSERT INTO sessions (user_id, expires_at) VALUES ($1, now() + interval '1 day') "
                "RETURNING id",
                uid,
            )
            return sid

        person = await user("person")
        senders: list[Sender] = []
        per = args.messages // args.conversations
        friends = []
        for i in range(args.conversations):
            friend = await user(f"friend{i}")
            friends.append(friend)
            conv = await room([person, friend], per)
            senders.append(Sender(str(friend), str(await session(friend)), str(conv), True))
            await conn.copy_records_to_table(
                "messages",
                columns=[
                    "conversation_id",
                    "zone_id",
                    "org_id",
                    "seq",
                    "change_seq",
                    "sender_id",
                    "client_msg_id",
                    "content",
                ],
                records=[
                    (
                        conv,
                        zone,
                        org,
                        s,
                        s,
                        person,
                        uuid.uuid4().hex,
                        f"오늘 숙제 {s}번 질문 있어요",
                    )
                    for s in range(1, per + 1)
                ],
            )
        others = []
        for i in range(args.control):
            a, b = await user(f"other{i}a"), await user(f"other{i}b")
            others += [a, b]
            conv = await room([a, b], 0)
            senders.append(Sender(str(a), str(await session(a)), str(conv), False))
        # Other people's notifications and audit rows: what a full-table redaction walks.
        crowd = [
            await conn.fetchval(
                "INSERT INTO users (email, password_hash, display_name) "
                "VALUES ($1, '!', $2) RETURNING id",
                f"crowd{i}-{secrets.token_hex(3)}@bench.example",
                f"학생 {i}",
            )
            for i in range(200)
        ]
        await conn.copy_records_to_table(
            "notifications",
            columns=["user_id", "dedup_key", "kind", "title", "body", "data", "collapse_key"],
            records=[
                (
                    crowd[n % len(crowd)],
                    f"k{n}",
                    "message",
                    f"학생 {n % 200}",
                    f"숙제 {n}번 질문 있어요",
                    json.dumps({"conversation_id": str(uuid.uuid4()), "seq": n}),
                    "c",
                )
                for n in range(args.notifications)
            ],
        )
        await conn.copy_records_to_table(
            "audit_log",
            columns=["actor_id", "action", "target_type", "target_id", "details"],
            records=[
                (crowd[n % len(crowd)], "auth.login", "user", str(crowd[n % len(crowd)]), "{}")
                for n in range(args.audit)
            ],
        )
        await conn.execute("ANALYZE")
        return person, senders
    finally:
        await conn.close()


def _settings(url: str, redis_url: str, namespace: str, pool: int, batch: int) -> Settings:
    return Settings(
        database_url=url,
        redis_url=redis_url,
        jwt_secret="bench-" + "x" * 40,
        redis_namespace=namespace,
        message_rate_per_s=100_000,
        db_pool_max=pool,
        erasure_batch=batch,
        log_level="warning",
    )


# --- the sender process ------------------------------------------------------------------


def sender_process(
    settings_json: str,
    senders: list[Sender],
    rate: float,
    ready: Event,
    stop: Event,
    out: str,
) -> None:
    asyncio.run(
        _senders(Settings.model_validate_json(settings_json), senders, rate, ready, stop, out)
    )


async def _senders(
    settings: Settings, senders: list[Sender], rate: float, ready: Event, stop: Event, out: str
) -> None:
    ctx = await open_context(settings, NullBus())
    sends: list[tuple[float, float, bool]] = []
    waits: list[tuple[float, float, str]] = []
    try:
        loops = [asyncio.create_task(_send_loop(ctx, s, rate, stop, sends)) for s in senders]
        sampler = asyncio.create_task(_sample_locks(settings.postgres_dsn, stop, waits))
        ready.set()
        await asyncio.gather(*loops, sampler)
    finally:
        await close_context(ctx)
    Path(out).write_text(json.dumps({"sends": sends, "waits": waits}))  # noqa: ASYNC240 - the end


async def _send_loop(
    ctx: HubContext, s: Sender, rate: float, stop: Event, sends: list[tuple[float, float, bool]]
) -> None:
    actor = Actor(uuid.UUID(s.user_id), uuid.UUID(s.session_id))
    conv = uuid.UUID(s.conversation_id)
    interval = 1 / rate
    next_at = time.monotonic() + secrets.randbelow(1000) / 1000 * interval
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.monotonic()
        body = SendMessage(conversation_id=conv, client_msg_id=uuid.uuid4().hex, content="ping")
        await send_message(ctx, actor, body)
        sends.append((started, (time.monotonic() - started) * 1000, s.shared))
        next_at = max(next_at + interval, time.monotonic())


async def _sample_locks(dsn: str, stop: Event, waits: list[tuple[float, float, str]]) -> None:
    """The longest lock wait of any backend in this database, every 10 ms."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            row = await conn.fetchrow(
                """SELECT extract(epoch FROM clock_timestamp() - query_start) * 1000 AS ms,
                          wait_event, left(query, 60) AS query
                   FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'
                   ORDER BY query_start LIMIT 1"""
            )
            if row is not None:
                waits.append(
                    (time.monotonic(), float(row["ms"]), f"{row['wait_event']}: {row['query']}")
                )
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


# --- the erasure, in this process ----------------------------------------------------------


class _StepTimes(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _time_row_locks() -> list[float]:
    """How long each of the erasure's transactions that lock a conversation row lasts (from
    taking a pooled connection to its commit): a bound on how long a send to that conversation
    can wait on it."""
    held: list[float] = []
    blank = getattr(erase, "_blank", None)
    if blank is None:  # an older erasure without one transaction per conversation
        return held

    async def timed(ctx: HubContext, conversation: uuid.UUID, ids: list[uuid.UUID]) -> int:
        started = time.perf_counter()
        try:
            return int(await blank(ctx, conversation, ids))
        finally:
            held.append((time.perf_counter() - started) * 1000)

    erase._blank = timed
    return held


def summary(name: str, ms: list[float]) -> str:
    if len(ms) < 2:
        return f"{name}: no sends measured"
    ms = sorted(ms)
    p = statistics.quantiles(ms, n=100)
    over = sum(1 for m in ms if m > 50)
    return (
        f"{name}: {len(ms)} sends, p50 {p[49]:.1f} ms, p99 {p[98]:.1f} ms, "
        f"max {ms[-1]:.1f} ms, over 50 ms: {over}"
    )


async def erase_while_sending(url: str, redis_url: str, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    person, senders = await seed(url, args)
    print(f"seeded {args.messages} messages in {time.perf_counter() - started:.1f} s")
    namespace = f"bench-{secrets.token_hex(3)}"
    settings = _settings(url, redis_url, namespace, 4, args.batch)
    sender_settings = _settings(url, redis_url, namespace, args.senders + 2, args.batch)
    half = args.senders // 2
    active = [s for s in senders if s.shared][: args.senders - half]
    active += [s for s in senders if not s.shared][:half]
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Event(), spawn.Event()
    out = Path(tempfile.mkdtemp(prefix="erasure-bench-")) / "sends.json"
    child = spawn.Process(
        target=sender_process,
        args=(sender_settings.model_dump_json(), active, args.rate, ready, stop, str(out)),
    )
    steps = _StepTimes()
    privacy_log = logging.getLogger("dreamseed.privacy")
    privacy_log.addHandler(steps)
    privacy_log.setLevel(logging.INFO)
    held = _time_row_locks()
    ctx = await open_context(settings, NullBus())
    try:
        if active:
            child.start()
            await asyncio.get_running_loop().run_in_executor(None, ready.wait)
            await asyncio.sleep(1.0)  # warm-up, not measured
        t_base = time.monotonic()
        await asyncio.sleep(args.baseline if active else 0)
        async with ctx.db.system() as conn:
            erasure = await open_erasure(conn, ctx, person, None, Requester.SYS_ADMIN)
        t0 = time.monotonic()
        counts = await erase.run(ctx, erasure.id)
        t1 = time.monotonic()
        await asyncio.sleep(args.after if active else 0)
        t_end = time.monotonic()
        stop.set()
        if active:
            await asyncio.get_running_loop().run_in_executor(None, child.join)
        print(
            f"erased {counts.get('messages', 0)} messages in {t1 - t0:.2f} s (batch {args.batch})"
        )
        for line in steps.lines:
            print(f"  {line}")
        if len(held) > 1:
            q = statistics.quantiles(held, n=100)
            print(
                f"erasure transactions locking a conversation (pool acquire to commit, an "
                f"upper bound on the lock): {len(held)}, "
                f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {max(held):.1f} ms"
            )
        if active:
            _report(json.loads(out.read_text()), (t_base, t0, t1, t_end))
        ns = settings.redis_namespace
        doomed = [k async for k in ctx.redis.scan_iter(match=f"{ns}:*")]
        doomed += [k async for k in ctx.redis.scan_iter(match=f"arq:*:{ns}:*")]
        if doomed:
            await ctx.redis.delete(*doomed)
    finally:
        await close_context(ctx)
        privacy_log.removeHandler(steps)


def _report(result: dict[str, list[list[Any]]], marks: tuple[float, float, float, float]) -> None:
    t_base, t0, t1, t_end = marks
    phases = {"baseline": (t_base, t0), "during erasure": (t0, t1), "after": (t1, t_end)}
    for group, shared in (("shared with the person", True), ("control", False)):
        for phase, (a, b) in phases.items():
            ms = [m for at, m, sh in result["sends"] if sh is shared and a <= at < b]
            print(summary(f"sends {group}, {phase}", ms))
    for phase, (a, b) in phases.items():
        waits = [(ms, query) for at, ms, query in result["waits"] if a <= at < b]
        if waits:
            longest, query = max(waits)
            print(f"longest lock wait seen, {phase}: {longest:.1f} ms ({query})")
        else:
            print(f"longest lock wait seen, {phase}: none")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--control", type=int, default=10)
    parser.add_argument("--notifications", type=int, default=200_000)
    parser.add_argument("--audit", type=int, default=200_000)
    parser.add_argument("--senders", type=int, default=8, help="half shared, half control")
    parser.add_argument("--rate", type=float, default=10.0, help="messages a second per sender")
    parser.add_argument("--baseline", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=200, help="ERASURE_BATCH")
    args = parser.parse_args()
    admin_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    name = f"ds_erasure_bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    try:
        await migrate(url, "dreamseed_app")
        await erase_while_sending(url, redis_url, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
