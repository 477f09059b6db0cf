"""An announcement to N offline members (one device each), through the product's own
notification job, the real firebase-admin client and an FCM stand-in answering in ~20 ms.

Reports how long until every push was accepted, the HTTP requests and connections used, and
the worker's CPU time and peak memory. Runs against this machine's PostgreSQL and Redis
(DATABASE_URL / REDIS_URL as admin URLs; defaults below) in a database it creates and drops.

    .venv/bin/python loadtest/push_bench.py --members 10000 --delay 0.02 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from hub.bus import NullBus
from hub.notify import dispatch
from hub.notify.push import PushSender
from hub.services import close_context, open_context
from hub.settings import Settings
from schema.migrate import migrate


async def _seed(url: str, members: int) -> uuid.UUID:
    conn = await asyncpg.connect(url)
    try:
        zone = await conn.fetchval("SELECT id FROM zones WHERE slug = 'kzone'")
        org = await conn.fetchval(
            "INSERT INTO organizations (zone_id, name) VALUES ($1, 'Bench') RETURNING id", zone
        )
        conv = uuid.uuid4()
        users = [uuid.uuid4() for _ in range(members + 1)]
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "password_hash", "display_name"],
            records=[(u, f"u{i}@bench.invalid", "!", f"Member {i}") for i, u in enumerate(users)],
        )
        await conn.copy_records_to_table(
            "memberships",
            columns=["org_id", "zone_id", "user_id", "role"],
            records=[
                (org, zone, u, "teacher" if i == 0 else "parent") for i, u in enumerate(users)
            ],
        )
        await conn.execute(
            """INSERT INTO conversations (id, zone_id, org_id, kind, title, last_seq, change_seq,
                                          last_message_at)
               VALUES ($1, $2, $3, 'announcement', '가정통신문', 1, 1, now())""",
            conv,
            zone,
            org,
        )
        await conn.copy_records_to_table(
            "participants",
            columns=["conversation_id", "user_id", "zone_id", "org_id", "role"],
            records=[
                (conv, u, zone, org, "admin" if i == 0 else "member") for i, u in enumerate(users)
            ],
        )
        await conn.execute(
            """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                                     client_msg_id, content)
               VALUES ($1, $2, $3, 1, 1, $4, 'bench', '내일 시험 범위가 바뀌었습니다')""",
            conv,
            zone,
            org,
            users[0],
        )
        await conn.copy_records_to_table(
            "devices",
            columns=["token", "user_id", "platform"],
            records=[
                (f"bench-token-{i:06d}-{secrets.token_hex(8)}", u, "android")
                for i, u in enumerate(users[1:])
            ],
        )
        return conv
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"ds_pushbench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    standin = None
    try:
        await migrate(url, "dreamseed_app")
        conv = await _seed(url, args.members)
        sa = Path(tempfile.mkdtemp()) / "sa.json"
        standin = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "tests.fcm_standin",
                "--delay",
                str(args.delay),
                "--service-account",
                str(sa),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert standin.stdout is not None
        endpoint = standin.stdout.readline().split()[0]
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            jwt_secret="x" * 40,
            redis_namespace=f"pushbench-{secrets.token_hex(3)}",
        )
        ctx = await open_context(settings, NullBus())
        push = PushSender(sa, endpoint=endpoint, max_connections=args.connections)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        outcome = await dispatch.conversation_activity(ctx, push, conv)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        stats = json.loads(_get(f"{endpoint}/_stats"))
        await push.aclose()
        await close_context(ctx)
        return {
            "members": args.members,
            "fcm_delay_s": args.delay,
            "recorded": outcome.recorded,
            "pushed": outcome.pushed,
            "seconds_until_all_accepted": round(wall, 2),
            "worker_cpu_s": round(cpu, 2),
            "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "fcm_requests": stats["requests"],
            "fcm_connections": stats["connections"],
            "fcm_max_in_flight": stats["max_in_flight"],
        }
    finally:
        if standin is not None:
            standin.terminate()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - 127.0.0.1 stand-in
        return str(reply.read().decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--json", type=Path)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))
    if parser.parse_args().json:
        parser.parse_args().json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
