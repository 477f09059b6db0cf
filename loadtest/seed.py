"""Bulk seeding for the hub benchmarks: rows COPY'd straight into PostgreSQL, tokens minted here.

NOT A PRODUCTION PATH. This is a script in ``loadtest/``, never imported by the hub and never
exposed as an HTTP route. It only works for someone who already holds

* the database OWNER's URL (it writes with COPY as the owner, bypassing row-level security
  and every check the API makes), and
* the hub's ``JWT_SECRET`` (read from the environment, never from the command line), with
  which it mints access tokens for the sessions it inserts.

Either of those already grants everything, so the script adds no new way in. As a further
guard it refuses any database host but the loopback interface or a local socket.

Used as a library by ``hub_bench.py``, or on its own to prepare users for ``locustfile.py``::

    JWT_SECRET=... .venv/bin/python loadtest/seed.py \\
        --owner-dsn postgresql://postgres@127.0.0.1:5432/ds_bench \\
        --students 200 --pairs 100 --room 200 --out /tmp/ds-seed.json

``--create`` makes and migrates the database first; ``--drop`` removes it (and nothing else).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.tokens import TokenIssuer
from schema.migrate import migrate

APP_ROLE = "dreamseed_app"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
# A syntactically valid argon2id hash of a random password: nobody logs in as a seeded user.
_UNUSABLE_HASH = (
    "$argon2id$v=19$m=8,t=1,p=1$"
    + secrets.token_urlsafe(12).replace("-", "A").replace("_", "B")
    + "$"
    + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
)


class SeedError(Exception):
    """The seeding cannot run; the message says why."""


@dataclass
class SeededUser:
    id: UUID
    session_id: UUID
    token: str
    role: str


@dataclass
class Seeded:
    org_id: UUID
    zone_id: UUID
    users: list[SeededUser] = field(default_factory=list)


def require_local(dsn: str) -> None:
    host = urlsplit(dsn).hostname or ""
    if host not in LOCAL_HOSTS and not host.startswith("/"):
        raise SeedError(f"refusing to seed a database on '{host}': loopback only")


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def create_database(admin_dsn: str, name: str) -> str:
    """Create and migrate a fresh database; return its owner URL."""
    require_local(admin_dsn)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await admin.close()
    dsn = with_database(admin_dsn, name)
    await migrate(dsn, APP_ROLE)
    return dsn


async def drop_database(admin_dsn: str, name: str) -> None:
    require_local(admin_dsn)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class Seeder:
    """Inserts an organization, users with sessions, and conversations, in bulk."""

    def __init__(
        self, conn: asyncpg.Connection, issuer: TokenIssuer, org_id: UUID, zone_id: UUID
    ) -> None:
        self.conn = conn
        self.issuer = issuer
        self.org_id = org_id
        self.zone_id = zone_id
        self.now = datetime.now(UTC)

    @classmethod
    async def start(
        cls, conn: asyncpg.Connection, issuer: TokenIssuer, zone: str = "kzone"
    ) -> Seeder:
        zone_id = await conn.fetchval("SELECT id FROM zones WHERE slug = $1", zone)
        if zone_id is None:
            raise SeedError(f"zone '{zone}' is missing: is the database migrated?")
        org_id = await conn.fetchval(
            "INSERT INTO organizations (zone_id, name) VALUES ($1, $2) RETURNING id",
            zone_id,
            f"Bench school {secrets.token_hex(3)}",
        )
        return cls(conn, issuer, org_id, zone_id)

    async def users(self, count: int, role: str = "student") -> list[SeededUser]:
        """`count` users of the organization with `role`, each with a live session and token."""
        tag = secrets.token_hex(3)
        ids = [uuid.uuid4() for _ in range(count)]
        sessions = [uuid.uuid4() for _ in range(count)]
        expires = self.now + timedelta(days=1)
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(
                "users",
                columns=["id", "email", "password_hash", "display_name"],
                records=[
                    (
                        uid,
                        f"b{tag}-{i}@bench.dreamseed.invalid",
                        _UNUSABLE_HASH,
                        f"Bench {role} {i}",
                    )
                    for i, uid in enumerate(ids)
                ],
            )
            await self.conn.copy_records_to_table(
                "memberships",
                columns=["org_id", "zone_id", "user_id", "role"],
                records=[(self.org_id, self.zone_id, uid, role) for uid in ids],
            )
            await self.conn.copy_records_to_table(
                "sessions",
                columns=["id", "user_id", "expires_at"],
                records=[(sid, uid, expires) for uid, sid in zip(ids, sessions, strict=True)],
            )
        return [
            SeededUser(uid, sid, self.issuer.issue_access(uid, sid, self.now), role)
            for uid, sid in zip(ids, sessions, strict=True)
        ]

    async def directs(self, pairs: list[tuple[SeededUser, SeededUser]]) -> list[UUID]:
        """One direct conversation per pair (both participants 'member')."""
        ids = [uuid.uuid4() for _ in pairs]
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(
                "conversations",
                columns=["id", "zone_id", "org_id", "kind", "direct_key"],
                records=[
                    (
                        cid,
                        self.zone_id,
                        self.org_id,
                        "direct",
                        ":".join(sorted((str(a.id), str(b.id)))),
                    )
                    for cid, (a, b) in zip(ids, pairs, strict=True)
                ],
            )
            await self.conn.copy_records_to_table(
                "participants",
                columns=["conversation_id", "user_id", "zone_id", "org_id", "role"],
                records=[
                    (cid, u.id, self.zone_id, self.org_id, "member")
                    for cid, pair in zip(ids, pairs, strict=True)
                    for u in pair
                ],
            )
        return ids

    async def room(
        self,
        kind: str,
        admins: list[SeededUser],
        members: list[SeededUser],
        title: str = "Bench room",
    ) -> UUID:
        """A group or announcement conversation."""
        if kind not in ("group", "announcement"):
            raise SeedError(f"a room is a group or an announcement, not '{kind}'")
        cid = uuid.uuid4()
        async with self.conn.transaction():
            await self.conn.execute(
                """INSERT INTO conversations (id, zone_id, org_id, kind, title)
                   VALUES ($1, $2, $3, $4, $5)""",
                cid,
                self.zone_id,
                self.org_id,
                kind,
                title,
            )
            await self.conn.copy_records_to_table(
                "participants",
                columns=["conversation_id", "user_id", "zone_id", "org_id", "role"],
                records=[(cid, u.id, self.zone_id, self.org_id, "admin") for u in admins]
                + [(cid, u.id, self.zone_id, self.org_id, "member") for u in members],
            )
        return cid


# --- command line (for locust) ----------------------------------------------------------------


async def _seed_for_locust(args: argparse.Namespace, secret: str) -> dict[str, Any]:
    dsn = args.owner_dsn
    if args.create:
        dsn = await create_database(args.owner_dsn, args.create)
    require_local(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        seeder = await Seeder.start(conn, TokenIssuer(secret, args.token_ttl_s))
        teacher = (await seeder.users(1, "teacher"))[0]
        students = await seeder.users(args.students, "student")
        pairs = [
            (students[i], students[i + 1])
            for i in range(0, min(2 * args.pairs, len(students) - 1), 2)
        ]
        directs = await seeder.directs(pairs)
        room_members = students[: args.room]
        announcement = await seeder.room("announcement", [teacher], room_members, "Notices")
        group = await seeder.room("group", [teacher], room_members, "Class chat")
    finally:
        await conn.close()

    def user(u: SeededUser) -> dict[str, Any]:
        return {k: str(v) for k, v in asdict(u).items()}

    return {
        "org_id": str(seeder.org_id),
        "teacher": user(teacher),
        "students": [user(s) for s in students],
        "directs": [
            {"conversation_id": str(cid), "users": [str(a.id), str(b.id)]}
            for cid, (a, b) in zip(directs, pairs, strict=True)
        ],
        "room": len(room_members),
        "announcement_id": str(announcement),
        "group_id": str(group),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--owner-dsn", required=True, help="the database OWNER's URL (loopback only)"
    )
    parser.add_argument(
        "--create",
        metavar="NAME",
        help="create and migrate database NAME on --owner-dsn's server first",
    )
    parser.add_argument("--drop", metavar="NAME", help="drop database NAME and exit")
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=40, help="direct conversations")
    parser.add_argument(
        "--room", type=int, default=100, help="students in the group and the announcement"
    )
    parser.add_argument("--token-ttl-s", type=int, default=3600)
    parser.add_argument("--out", type=Path, required=False, help="JSON file for locust")
    args = parser.parse_args(argv)
    try:
        require_local(args.owner_dsn)
        if args.drop:
            asyncio.run(drop_database(args.owner_dsn, args.drop))
            return 0
        secret = os.environ.get("JWT_SECRET", "")
        if len(secret) < 32:
            raise SeedError("set JWT_SECRET (the hub's, at least 32 characters) in the environment")
        data = asyncio.run(_seed_for_locust(args, secret))
    except (SeedError, OSError, asyncpg.PostgresError) as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=1)
    if args.out:
        args.out.write_text(text)
        print(f"seeded {len(data['students'])} students and a teacher into {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
