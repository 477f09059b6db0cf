"""Erasing a person with many messages: wall time, and what it does to other people's sends.

Makes a throw-away database on the server named by DATABASE_URL (REDIS_URL for Redis), seeds
`--messages` messages by one person (bulk COPY) across `--conversations` conversations, each
shared with another member, then measures those members' sends (the domain's send_message,
one sender per conversation, back to back) for `--baseline` seconds, and again while the
erasure runs. The sends compete with the erasure for the same conversations' row locks.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python loadtest/erasure_bench.py [--messages 50000] [--conversations 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
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


async def seed(url: str, messages: int, conversations: int) -> tuple[uuid.UUID, list[Actor]]:
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

        person = await user("person")
        senders: list[Actor] = []
        per = messages // conversations
        for i in range(conversations):
            friend = await user(f"friend{i}")
            session = await conn.fetchval(
                "INSERT INTO sessions (user_id, expires_at) VALUES ($1, now() + interval '1 day') "
                "RETURNING id",
                friend,
            )
            senders.append(Actor(friend, session))
            conv = await conn.fetchval(
                """INSERT INTO conversations (zone_id, org_id, kind, title, last_seq, change_seq)
                   VALUES ($1, $2, 'group', 'room', $3, $3) RETURNING id""",
                zone,
                org,
                per,
            )
            await conn.executemany(
                "INSERT INTO participants (conversation_id, user_id, zone_id, org_id) "
                "VALUES ($1, $2, $3, $4)",
                [(conv, person, zone, org), (conv, friend, zone, org)],
            )
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
                    (conv, zone, org, s, s, person, f"{i}:{s}", f"오늘 숙제 {s}번 질문 있어요")
                    for s in range(1, per + 1)
                ],
            )
        await conn.execute("ANALYZE")
        return person, senders
    finally:
        await conn.close()


async def send_loop(ctx: HubContext, actor: Actor, stop: asyncio.Event) -> list[float]:
    conv = await _conversation_of(ctx, actor)
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        await send_message(
            ctx,
            actor,
            SendMessage(conversation_id=conv, client_msg_id=uuid.uuid4().hex, content="ping"),
        )
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _conversation_of(ctx: HubContext, actor: Actor) -> uuid.UUID:
    async with ctx.db.system() as conn:
        conv: uuid.UUID = await conn.fetchval(
            "SELECT conversation_id FROM participants WHERE user_id = $1", actor.user_id
        )
    return conv


async def measure(ctx: HubContext, senders: list[Actor], work: Awaitable[object]) -> list[float]:
    stop = asyncio.Event()
    loops = [asyncio.create_task(send_loop(ctx, s, stop)) for s in senders]
    await work
    stop.set()
    return [ms for result in await asyncio.gather(*loops) for ms in result]


def summary(name: str, ms: list[float]) -> str:
    if len(ms) < 2:
        return f"{name}: no sends measured"
    ms = sorted(ms)
    p = statistics.quantiles(ms, n=100)
    return f"{name}: {len(ms)} sends, p50 {p[49]:.1f} ms, p99 {p[98]:.1f} ms, max {ms[-1]:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--baseline", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    admin_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    name = f"ds_erasure_bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    try:
        await migrate(url, "dreamseed_app")
        started = time.perf_counter()
        person, senders = await seed(url, args.messages, args.conversations)
        print(f"seeded {args.messages} messages in {time.perf_counter() - started:.1f} s")
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            jwt_secret=secrets.token_urlsafe(40),
            redis_namespace=f"bench-{secrets.token_hex(3)}",
            message_rate_per_s=100_000,
            db_pool_max=args.senders + 4,
            erasure_batch=args.batch,
            log_level="warning",
        )
        ctx = await open_context(settings, NullBus())
        try:
            active = senders[: args.senders]
            baseline = await measure(
                ctx, active, asyncio.ensure_future(asyncio.sleep(args.baseline))
            )
            async with ctx.db.system() as conn:
                erasure = await open_erasure(conn, ctx, person, None, Requester.SYS_ADMIN)
            t0 = time.perf_counter()
            run = asyncio.ensure_future(erase.run(ctx, erasure.id))
            during = await measure(ctx, active, run)
            wall = time.perf_counter() - t0
            counts = run.result()
            print(
                f"erased {counts.get('messages', 0)} messages in {wall:.2f} s (batch {args.batch})"
            )
            print(summary("others' sends, baseline", baseline))
            print(summary("others' sends, during erasure", during))
            ns = settings.redis_namespace
            doomed = [k async for k in ctx.redis.scan_iter(match=f"{ns}:*")]
            doomed += [k async for k in ctx.redis.scan_iter(match=f"arq:*:{ns}:*")]
            if doomed:
                await ctx.redis.delete(*doomed)
        finally:
            await close_context(ctx)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
