"""Test helpers: a factory that builds tenants and users straight in the database, fast."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from argon2 import PasswordHasher

from hub.clock import utc_now
from hub.tokens import TokenIssuer

PASSWORD = "correct horse battery"
# Cheap parameters: the factory hashes many passwords; login verifies with whatever is stored.
_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


@dataclass
class User:
    id: UUID
    email: str
    session_id: UUID
    token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Org:
    id: UUID
    zone_id: UUID


@dataclass
class Factory:
    owner_dsn: str
    tokens: TokenIssuer
    _count: int = field(default=0)

    async def _conn(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.owner_dsn)

    async def zone(self, slug: str = "kzone") -> UUID:
        conn = await self._conn()
        try:
            zone_id: UUID = await conn.fetchval("SELECT id FROM zones WHERE slug = $1", slug)
            return zone_id
        finally:
            await conn.close()

    async def org(self, zone: str = "kzone", name: str | None = None) -> Org:
        conn = await self._conn()
        try:
            zone_id = await conn.fetchval("SELECT id FROM zones WHERE slug = $1", zone)
            org_id = await conn.fetchval(
                "INSERT INTO organizations (zone_id, name) VALUES ($1, $2) RETURNING id",
                zone_id,
                name or f"School {secrets.token_hex(3)}",
            )
            return Org(org_id, zone_id)
        finally:
            await conn.close()

    async def user(
        self,
        role: str | None = None,
        org: Org | None = None,
        *,
        sys_admin: bool = False,
        zone_admin_of: UUID | None = None,
        email: str | None = None,
    ) -> User:
        self._count += 1
        email = email or f"u{self._count}-{secrets.token_hex(3)}@test.dreamseed.kr"
        conn = await self._conn()
        try:
            user_id = await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name, is_sys_admin)
                   VALUES ($1, $2, $3, $4) RETURNING id""",
                email,
                _HASH,
                f"User {self._count}",
                sys_admin,
            )
            if role is not None:
                assert org is not None
                await conn.execute(
                    "INSERT INTO memberships (org_id, zone_id, user_id, role) "
                    "VALUES ($1, $2, $3, $4)",
                    org.id,
                    org.zone_id,
                    user_id,
                    role,
                )
            if zone_admin_of is not None:
                await conn.execute(
                    "INSERT INTO zone_admins (zone_id, user_id) VALUES ($1, $2)",
                    zone_admin_of,
                    user_id,
                )
            now = utc_now()
            session_id = await conn.fetchval(
                "INSERT INTO sessions (user_id, expires_at) VALUES ($1, $2) RETURNING id",
                user_id,
                now + timedelta(days=1),
            )
        finally:
            await conn.close()
        return User(user_id, email, session_id, self.tokens.issue_access(user_id, session_id, now))

    async def conversation(
        self, kind: str, org: Org, admins: list[User], members: list[User], title: str = "Room"
    ) -> UUID:
        """A conversation made straight in the database (REST creation is tested elsewhere)."""
        conn = await self._conn()
        try:
            key = None
            if kind == "direct":
                key = ":".join(sorted(str(u.id) for u in admins + members))
            conversation_id: UUID = await conn.fetchval(
                """INSERT INTO conversations (zone_id, org_id, kind, title, direct_key)
                   VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                org.zone_id,
                org.id,
                kind,
                None if kind == "direct" else title,
                key,
            )
            await conn.executemany(
                """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
                   VALUES ($1, $2, $3, $4, $5)""",
                [(conversation_id, u.id, org.zone_id, org.id, "admin") for u in admins]
                + [(conversation_id, u.id, org.zone_id, org.id, "member") for u in members],
            )
            return conversation_id
        finally:
            await conn.close()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await self._conn()
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await self._conn()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def snapshot(self) -> dict[str, int]:
        """Row counts of every table but the audit log: 'changes nothing' means equal snapshots."""
        conn = await self._conn()
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('audit_log', 'schema_migrations') ORDER BY 1"
                )
            ]
            counts = {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
            counts["users_updated"] = await conn.fetchval("SELECT max(updated_at) FROM users")
            return counts
        finally:
            await conn.close()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return dict(body["error"])


class FrozenClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# --- the messenger over REST -----------------------------------------------------------------


def cmid() -> str:
    """A fresh client_msg_id."""
    return f"c-{secrets.token_hex(6)}"


async def open_direct(api: httpx.AsyncClient, user: User, other: User) -> httpx.Response:
    return await api.post(
        "/conversations",
        json={"kind": "direct", "member_ids": [str(other.id)]},
        headers=user.headers,
    )


async def create_room(
    api: httpx.AsyncClient,
    admin: User,
    org: Org,
    members: list[User],
    kind: str = "group",
    title: str = "Class 3-2",
) -> dict[str, Any]:
    response = await api.post(
        "/conversations",
        json={
            "kind": kind,
            "org_id": str(org.id),
            "title": title,
            "member_ids": [str(m.id) for m in members],
        },
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post(
    api: httpx.AsyncClient, user: User, conversation_id: str, content: str, **extra: Any
) -> httpx.Response:
    return await api.post(
        f"/conversations/{conversation_id}/messages",
        json={"client_msg_id": extra.pop("client_msg_id", cmid()), "content": content, **extra},
        headers=user.headers,
    )


async def send(
    api: httpx.AsyncClient, user: User, conversation_id: str, content: str, **extra: Any
) -> dict[str, Any]:
    response = await post(api, user, conversation_id, content, **extra)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def history(
    api: httpx.AsyncClient, user: User, conversation_id: str, **params: Any
) -> dict[str, Any]:
    response = await api.get(
        f"/conversations/{conversation_id}/messages", params=params, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def listing(api: httpx.AsyncClient, user: User) -> list[dict[str, Any]]:
    response = await api.get("/conversations", headers=user.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@dataclass
class Classroom:
    """A teacher's conversation (group or announcement) with students of one organization."""

    org: Org
    teacher: User
    students: list[User]
    room: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.room["id"])


async def classroom(
    api: httpx.AsyncClient, factory: Factory, students: int = 2, kind: str = "group"
) -> Classroom:
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    kids = [await factory.user("student", org) for _ in range(students)]
    return Classroom(org, teacher, kids, await create_room(api, teacher, org, kids, kind))
