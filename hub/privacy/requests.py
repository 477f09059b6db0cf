"""Asking for an erasure: the person themselves (done at once), or an administrator on their
request (an org admin of every school the person belongs to, a zone admin of one of its
zones, or a system admin), done by the worker within the 30 days the law allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from hub import metrics
from hub.accounts.roles import load_roles
from hub.context import Actor, HubContext
from hub.db import Connection, fetch_returning
from hub.errors import DomainError, ErrorCode, forbidden, not_found
from hub.privacy.erase import subject_hash

ERASE_JOB = "erase_user"


class Requester(StrEnum):
    SELF = "self"
    ORG_ADMIN = "org_admin"
    ZONE_ADMIN = "zone_admin"
    SYS_ADMIN = "sys_admin"


@dataclass(frozen=True)
class Erasure:
    id: UUID
    status: str
    requested_role: str
    subject_hash: str
    counts: dict[str, int]
    requested_at: datetime
    finished_at: datetime | None


_COLUMNS = "id, status, requested_role, subject_hash, counts, requested_at, finished_at"


async def open_erasure(
    conn: Connection, ctx: HubContext, subject_id: UUID, by: UUID | None, role: Requester
) -> Erasure:
    """The subject's erasure: a new one, or the one already asked for (asking twice is one
    erasure)."""
    who = await conn.fetchrow(
        "SELECT email, display_name FROM users WHERE id = $1 FOR UPDATE", subject_id
    )
    if who is None:
        raise not_found("The user")
    places = await fetch_returning(
        conn,
        """SELECT coalesce(array_agg(DISTINCT zone_id), '{}') AS zones,
                  coalesce(array_agg(DISTINCT org_id), '{}') AS orgs
           FROM memberships WHERE user_id = $1""",
        subject_id,
    )
    digest = subject_hash(ctx.settings.jwt_secret, subject_id, who["email"], who["display_name"])
    await conn.execute(
        """INSERT INTO erasures (subject_id, subject_hash, requested_by, requested_role,
                                 zone_ids, org_ids, requested_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (subject_id) DO NOTHING""",
        subject_id,
        digest,
        by,
        role.value,
        places["zones"],
        places["orgs"],
        ctx.clock(),
    )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM erasures WHERE subject_id = $1",  # noqa: S608
        subject_id,
    )
    return _erasure(row)


def _erasure(row: Any) -> Erasure:
    return Erasure(**dict(row))


async def request_erasure(ctx: HubContext, actor: Actor, user_id: UUID) -> Erasure:
    """An administrator asks, on the person's request; the worker erases."""
    async with ctx.db.system() as conn:
        role = await _may_erase(conn, actor.user_id, user_id)
        erasure = await open_erasure(conn, ctx, user_id, actor.user_id, role)
    if erasure.status != "done":
        await ctx.jobs.enqueue(ERASE_JOB, str(erasure.id), job_id=f"erase:{erasure.id}")
    return erasure


async def _may_erase(conn: Connection, actor_id: UUID, user_id: UUID) -> Requester:
    roles = await load_roles(conn, actor_id)
    target = await conn.fetchrow(
        "SELECT is_sys_admin FROM users WHERE id = $1 AND email NOT LIKE 'pseudonym-%'",
        user_id,
    )
    if target is None:
        raise not_found("The user")
    if actor_id == user_id:
        metrics.PRIVACY_REFUSALS.labels("self_by_admin_route").inc()
        raise DomainError(
            ErrorCode.VALIDATION, "Erase your own account with DELETE /users/me (password)"
        )
    if roles.is_sys_admin:
        return Requester.SYS_ADMIN
    # Once erased, the person's schools are those the erasure recorded.
    places = await fetch_returning(
        conn,
        """SELECT coalesce(array_agg(DISTINCT org_id), '{}') || coalesce(
                      (SELECT org_ids FROM erasures WHERE subject_id = $1), '{}') AS orgs,
                  coalesce(array_agg(DISTINCT zone_id), '{}') || coalesce(
                      (SELECT zone_ids FROM erasures WHERE subject_id = $1), '{}') AS zones
           FROM memberships WHERE user_id = $1""",
        user_id,
    )
    orgs, zones = set(places["orgs"]), set(places["zones"])
    if not (orgs & set(roles.org_roles) or zones & roles.admin_zone_ids):
        # Outside every school of this person: as for a user that does not exist, or a 403
        # here tells another school who exists (found by the tenancy sweep).
        metrics.PRIVACY_REFUSALS.labels("erase_forbidden").inc()
        raise not_found("The user")
    if not target["is_sys_admin"] and orgs:
        if zones & roles.admin_zone_ids:
            return Requester.ZONE_ADMIN
        if orgs <= {o for o, r in roles.org_roles.items() if "org_admin" in r}:
            return Requester.ORG_ADMIN
    metrics.PRIVACY_REFUSALS.labels("erase_forbidden").inc()
    raise forbidden("Only an administrator of every school this person belongs to may erase them")


async def get_erasure(ctx: HubContext, actor: Actor, erasure_id: UUID) -> Erasure:
    """The proof, for whoever may read it (row-level security decides)."""
    async with ctx.db.acting(actor.user_id) as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM erasures WHERE id = $1",  # noqa: S608
            erasure_id,
        )
    if row is None:
        raise not_found("The erasure")
    return _erasure(row)


async def unfinished(ctx: HubContext) -> list[UUID]:
    """Erasures asked for but not done (a lost job, a killed run): the daily job finishes them,
    well within the 30 days the law allows."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            "SELECT id FROM erasures WHERE status <> 'done' ORDER BY requested_at"
        )
    return [r["id"] for r in rows]
