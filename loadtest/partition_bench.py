"""Messages partitioned by month: reads at scale, and what archiving a month costs live sends.

NOT A PRODUCTION PATH: a script that makes throw-away databases on the server named by
DATABASE_URL (a role that may create databases; REDIS_URL for Redis) and drops them after.

1. Seeds `--messages` messages (bulk COPY) across `--conversations` two-person conversations
   over `--months` months, and a small database of `--small` messages (100 conversations).
2. On both: recent history (a page of 50, the domain's `history`), the conversation list with
   unread counts (`list_conversations`) and search over one user's conversations, archived
   months included (`search_messages`): p50/p95 over `--reads` calls each.
3. On the big one: live sends (the domain's `send_message`, `--pairs` conversations,
   `--rate` messages/s in all, paced) for `--window` seconds as a baseline, then while
   months move to the archive tablespace one after the other; each move's wall time.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python loadtest/partition_bench.py --messages 2000000 \\
        --tablespace-dir /var/lib/postgresql/ds_archive_bench

`--tablespace-dir` (made and given to the postgres user; the server must be on this machine)
becomes a tablespace for the archive, dropped at the end; without it the months "move" to
pg_default (the detach and attach still happen).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import os
import random
import secrets
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.bus import NullBus
from hub.chat import conversations, messages, partitions, search
from hub.context import Actor, HubContext
from hub.services import close_context, open_context
from hub.settings import Settings
from schema.migrate import migrate
from schema.models.chat import HistoryQuery, SendMessage

_SYLLABLES = "가나다라마바사아자차카타파하학교시험숙제수업과제질문선생님친구"
_ENGLISH = [f"word{n}" for n in range(1500)]
_KOREAN = [a + b for a in _SYLLABLES for b in _SYLLABLES][:1500]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(_KOREAN if rng.random() < 0.5 else _ENGLISH) for _ in range(6))


def _tsvector(text: str) -> str:
    return " ".join("'" + t.replace("'", "''") + "'" for t in search.tokens(text))


async def seed(url: str, total: int, convs: int, months: int, users: int) -> dict[str, Any]:
    """Users, two-person conversations, and `total` messages spread over `months` months."""
    rng = random.Random(7)
    conn = await asyncpg.connect(url)
    try:
        zone = await conn.fetchval("SELECT id FROM zones WHERE slug = 'kzone'")
        org = await conn.fetchval(
            "INSERT INTO organizations (zone_id, name) VALUES ($1, 'Bench') RETURNING id", zone
        )
        user_ids = [uuid.uuid4() for _ in range(users)]
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "password_hash", "display_name"],
            records=[(u, f"{u}@bench.example", "!", f"user {i}") for i, u in enumerate(user_ids)],
        )
        await conn.copy_records_to_table(
            "memberships",
            columns=["org_id", "zone_id", "user_id", "role"],
            records=[(org, zone, u, "student") for u in user_ids],
        )
        now = datetime.now(UTC)
        start = now - timedelta(days=30.5 * months)
        for n in range(months + 1):
            await conn.fetchval(
                "SELECT app_message_partition($1)", start + timedelta(days=30.5 * n)
            )
        per = total // convs
        conv_ids = [uuid.uuid4() for _ in range(convs)]
        # Each user in about 2 * convs / users conversations, never twice with one person.
        pairs = [
            (user_ids[i % users], user_ids[(i + 1 + i // users) % users]) for i in range(convs)
        ]
        span = (now - timedelta(hours=1) - start).total_seconds()
        stamps = [
            sorted(start + timedelta(seconds=rng.random() * span) for _ in range(per))
            for _ in range(convs)
        ]
        await conn.copy_records_to_table(
            "conversations",
            columns=[
                "id",
                "zone_id",
                "org_id",
                "kind",
                "title",
                "last_seq",
                "change_seq",
                "last_message_at",
                "created_at",
            ],
            records=[
                (c, zone, org, "group", f"room {i}", per, per, stamps[i][-1], start)
                for i, c in enumerate(conv_ids)
            ],
        )
        await conn.copy_records_to_table(
            "participants",
            columns=["conversation_id", "user_id", "zone_id", "org_id", "last_read_seq"],
            records=[
                (c, u, zone, org, rng.randrange(per + 1))
                for c, pair in zip(conv_ids, pairs, strict=True)
                for u in pair
            ],
        )
        began = time.perf_counter()
        batch = io.StringIO()
        rows = 0
        for i, c in enumerate(conv_ids):
            for s, at in enumerate(stamps[i], start=1):
                text = _text(rng)
                sender = pairs[i][s % 2]
                batch.write(
                    f"{uuid.uuid4()}\t{c}\t{zone}\t{org}\t{s}\t{s}\t{sender}\t{i}:{s}\t{text}\t"
                    f"{_tsvector(text)}\t{at.isoformat()}\n"
                )
                rows += 1
            if batch.tell() > 16_000_000 or i == convs - 1:
                await conn.copy_to_table(
                    "messages",
                    source=io.BytesIO(batch.getvalue().encode()),
                    columns=[
                        "id",
                        "conversation_id",
                        "zone_id",
                        "org_id",
                        "seq",
                        "change_seq",
                        "sender_id",
                        "client_msg_id",
                        "content",
                        "search_tokens",
                        "created_at",
                    ],
                )
                batch = io.StringIO()
                print(f"  {rows} messages, {time.perf_counter() - began:.0f} s", file=sys.stderr)
        copy_s = time.perf_counter() - began
        await conn.execute("ANALYZE")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return {
            "messages": rows,
            "copy_s": round(copy_s, 1),
            "size": size,
            "users": user_ids,
            "convs": conv_ids,
            "pairs": pairs,
        }
    finally:
        await conn.close()


async def reuse(url: str) -> dict[str, Any]:
    """The conversations and their two members of a database seeded by an earlier run."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT conversation_id, array_agg(user_id ORDER BY user_id) AS members
               FROM participants GROUP BY conversation_id ORDER BY conversation_id"""
        )
        total = await conn.fetchval("SELECT sum(last_seq) FROM conversations")
    finally:
        await conn.close()
    return {
        "messages": total,
        "convs": [r["conversation_id"] for r in rows],
        "pairs": [tuple(r["members"]) for r in rows],
    }


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    q = statistics.quantiles(values, n=100)
    return {
        "n": len(values),
        "p50": round(q[49], 2),
        "p95": round(q[94], 2),
        "p99": round(q[98], 2),
        "max": round(values[-1], 2),
    }


async def timed(calls: Sequence[Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    out = []
    for call in calls:
        began = time.perf_counter()
        await call()
        out.append((time.perf_counter() - began) * 1000)
    return _ms(out)


async def reads(ctx: HubContext, seeded: dict[str, Any], n: int) -> dict[str, Any]:
    rng = random.Random(11)
    picks = [rng.randrange(len(seeded["convs"])) for _ in range(n)]

    def actor(u: uuid.UUID) -> Actor:
        return Actor(u, uuid.uuid4())

    def calls(make: Callable[[int, int], Awaitable[Any]]) -> list[Callable[[], Awaitable[Any]]]:
        return [functools.partial(make, i, k) for k, i in enumerate(picks)]

    def user(i: int) -> Actor:
        return actor(seeded["pairs"][i][0])

    history = calls(
        lambda i, _k: messages.history(ctx, user(i), seeded["convs"][i], HistoryQuery(limit=50))
    )
    listing = calls(lambda i, _k: conversations.list_conversations(ctx, user(i)))
    words = [rng.choice(_KOREAN if k % 2 else _ENGLISH) for k in range(n)]
    searching = calls(
        lambda i, k: search.search_messages(
            ctx, user(i), words[k], conversation_id=None, limit=20, before=None
        )
    )
    await timed(history[:20] + listing[:20] + searching[:20])  # warm the caches
    return {
        "history": await timed(history),
        "unread_list": await timed(listing),
        "search": await timed(searching),
    }


async def live_sends(
    ctx: HubContext, seeded: dict[str, Any], pairs: int, rate: float, work: Awaitable[Any]
) -> tuple[list[float], Any]:
    """Paced sends until `work` is done; their latencies (ms) and work's result."""
    latencies: list[float] = []
    errors = 0
    job = asyncio.ensure_future(work)
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        nonlocal errors
        i = n % pairs
        began = time.perf_counter()
        try:
            await messages.send_message(
                ctx,
                Actor(seeded["pairs"][i][n // pairs % 2], uuid.uuid4()),
                SendMessage(
                    conversation_id=seeded["convs"][i],
                    client_msg_id=uuid.uuid4().hex,
                    content=f"live {n}",
                ),
            )
            latencies.append((time.perf_counter() - began) * 1000)
        except Exception:  # counted and reported
            errors += 1

    began, n = time.perf_counter(), 0
    while not job.done():
        due = began + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    if errors:
        print(f"  {errors} sends failed", file=sys.stderr)
    return latencies, job.result()


async def archive_phase(
    ctx: HubContext, seeded: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    async with ctx.db.system() as conn:
        cutoff = partitions.hot_since(datetime.now(UTC), ctx.settings).date()
        due = [
            p.name for p in await partitions.partitions(conn) if p.month < cutoff and not p.archived
        ]
    due = due[::-1]  # the newest due month first, as the monthly job meets them
    result: dict[str, Any] = {"rounds": []}
    for round_no in range(args.rounds):
        base, _ = await live_sends(ctx, seeded, args.pairs, args.rate, asyncio.sleep(args.window))
        months = due[round_no * args.per_round : (round_no + 1) * args.per_round]

        async def move(months: list[str] = months) -> list[partitions.ArchiveResult]:
            return [await partitions.archive_month(ctx, m) for m in months]

        began = time.perf_counter()
        during, moved = await live_sends(ctx, seeded, args.pairs, args.rate, move())
        result["rounds"].append(
            {
                "baseline_sends": _ms(base),
                "during_sends": _ms(during),
                "archive_wall_s": round(time.perf_counter() - began, 2),
                "moves": [
                    {"partition": m.partition, "rows": m.row_count, "seconds": round(m.seconds, 2)}
                    for m in moved
                ],
            }
        )
        print(f"  round {round_no + 1}: {result['rounds'][-1]}", file=sys.stderr)
    return result


async def bench(
    url: str, redis_url: str, seeded: dict[str, Any], args: argparse.Namespace, big: bool
) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        jwt_secret=secrets.token_urlsafe(40),
        redis_namespace=f"bench-{secrets.token_hex(3)}",
        message_rate_per_s=100_000,
        db_pool_max=20,
        log_level="warning",
        message_archive_tablespace=args.tablespace,
    )
    ctx = await open_context(settings, NullBus())
    try:
        out: dict[str, Any] = {"reads": await reads(ctx, seeded, args.reads)}
        print(f"  reads: {out['reads']}", file=sys.stderr)
        if big:
            out["archive"] = await archive_phase(ctx, seeded, args)
            out["reads_after_archive"] = await reads(ctx, seeded, args.reads)
            print(f"  reads after archiving: {out['reads_after_archive']}", file=sys.stderr)
        ns = settings.redis_namespace
        doomed = [k async for k in ctx.redis.scan_iter(match=f"{ns}:*")]
        doomed += [k async for k in ctx.redis.scan_iter(match=f"arq:*:{ns}:*")]
        if doomed:
            await ctx.redis.delete(*doomed)
        return out
    finally:
        await close_context(ctx)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=2_000_000)
    p.add_argument("--conversations", type=int, default=10_000)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--months", type=int, default=18)
    p.add_argument("--small", type=int, default=10_000)
    p.add_argument("--reads", type=int, default=300)
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--window", type=float, default=15.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--per-round", type=int, default=2)
    p.add_argument("--tablespace-dir", type=Path)
    p.add_argument("--reuse-big", help="a big database kept from an earlier run (not dropped)")
    p.add_argument("--reuse-tablespace", help="its archive tablespace (not dropped)")
    args = p.parse_args()
    admin_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    admin = await asyncpg.connect(admin_url)
    tag = secrets.token_hex(3)
    names = {"big": f"ds_part_big_{tag}", "small": f"ds_part_small_{tag}"}
    args.tablespace = "pg_default"
    try:
        if args.tablespace_dir:
            args.tablespace_dir.mkdir(parents=True, exist_ok=True)
            shutil.chown(args.tablespace_dir, "postgres", "postgres")
            args.tablespace = f"ds_archive_{tag}"
            await admin.execute(
                f"CREATE TABLESPACE {args.tablespace} LOCATION '{args.tablespace_dir}'"
            )
        if args.reuse_tablespace:
            args.tablespace = args.reuse_tablespace
        results: dict[str, Any] = {}
        # The small database has as many messages per conversation as the big one.
        for which, total, convs in (
            ("small", args.small, max(1, args.small * args.conversations // args.messages)),
            ("big", args.messages, args.conversations),
        ):
            if which == "big" and args.reuse_big:
                url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{args.reuse_big}"))
                seeded = await reuse(url)
                results[which] = {
                    "seed": {"reused": args.reuse_big, "messages": seeded["messages"]},
                    **await bench(url, redis_url, seeded, args, True),
                }
                continue
            await admin.execute(f'CREATE DATABASE "{names[which]}"')
            url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{names[which]}"))
            await migrate(url, "dreamseed_app")
            print(f"{which}: seeding {total} messages", file=sys.stderr)
            seeded = await seed(url, total, convs, args.months, min(args.users, convs * 2))
            print(
                f"{which}: {seeded['messages']} messages COPY'd in {seeded['copy_s']} s, "
                f"database {seeded['size']}",
                file=sys.stderr,
            )
            results[which] = {
                "seed": {k: seeded[k] for k in ("messages", "copy_s", "size")},
                **await bench(url, redis_url, seeded, args, which == "big"),
            }
            await admin.execute(f'DROP DATABASE "{names[which]}" WITH (FORCE)')
        import json

        print(json.dumps(results, indent=1, default=str))
    finally:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.tablespace != "pg_default" and not args.reuse_tablespace:
            await admin.execute(f"DROP TABLESPACE IF EXISTS {args.tablespace}")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
