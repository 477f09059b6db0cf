"""A class roster from a CSV file: the school creates its students' and parents' accounts in
one go, with each parent linked to their child and the link approved by the school.

Columns (a header line, any order): `role` (student or parent), `name`, `email`, and for a
parent `student_email`, the child's address in the same file or already in the class;
`language` (ko or en) is optional. A file with any bad line changes nothing and the error
names every bad line. New accounts get a random first password, returned once. An address
that already has an account is used only if that person is already a member of the school;
anyone else is skipped with the reason (invite them: they must consent to join).

Each account made here carries the school's attestation (a `data_processing` consent with the
source 'school', recorded by the importer): the school, as data controller, answers for
enrolling them. The person's own consents are asked at their first sign-in
(hub/privacy/consent.py).
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import EmailStr, TypeAdapter, ValidationError

from hub.accounts import audit
from hub.accounts.invitations import managed_org
from hub.context import Actor, HubContext, RequestMeta
from hub.db import Connection
from hub.errors import DomainError, ErrorCode, not_found
from hub.passwords import hash_password
from hub.privacy import consent
from schema.models.accounts import OrgRole

MAX_ROWS = 2000
_ROLES = {"student": OrgRole.STUDENT, "parent": OrgRole.PARENT}
_REQUIRED = ("role", "name", "email")
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)


@dataclass(frozen=True)
class Row:
    line: int
    role: OrgRole
    name: str
    email: str
    student_email: str | None
    language: str


def parse(text: str) -> list[Row]:
    """The roster's rows, or a validation error naming each bad line (and nothing is done)."""
    try:
        return _parse(text)
    except csv.Error as exc:
        # e.g. a bare carriage return inside a field: once a 500 (found by fuzzing).
        raise DomainError(
            ErrorCode.VALIDATION, f"The roster is not valid CSV: {exc}", field="csv"
        ) from None


def _parse(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"The roster's header lacks {', '.join(missing)} (role,name,email,student_email)",
            field="csv",
        )
    rows: list[Row] = []
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, raw in enumerate(reader, start=2):
        # Cells past the header arrive as a list under the key None: they are ignored.
        item = {
            (k or "").strip().lower(): v.strip()
            for k, v in raw.items()
            if k is not None and isinstance(v, str)
        }
        row, problem = _row(n, item, seen)
        if row is None:
            errors.append({"field": f"csv.line{n}", "message": problem})
            continue
        seen.add(row.email)
        rows.append(row)
    if len(rows) + len(errors) > MAX_ROWS:
        raise DomainError(
            ErrorCode.VALIDATION, f"A roster holds at most {MAX_ROWS} lines", field="csv"
        )
    if errors:
        summary = "; ".join(f"line {e['field'][8:]}: {e['message']}" for e in errors[:20])
        raise DomainError(ErrorCode.VALIDATION, f"Bad roster lines: {summary}", fields=errors)
    if not rows:
        raise DomainError(ErrorCode.VALIDATION, "The roster has no lines", field="csv")
    return rows


def _is_email(value: str) -> bool:
    """As the API checks addresses at login: an account made here must be able to sign in."""
    try:
        _EMAIL.validate_python(value)
    except ValidationError:
        return False
    return len(value) <= 254


def _row(n: int, item: dict[str, str], seen: set[str]) -> tuple[Row | None, str]:
    """One line as a Row, or None and what is wrong with it."""
    role, email = _ROLES.get(item.get("role", "").lower()), item.get("email", "").lower()
    child = item.get("student_email", "").lower() or None
    language = item.get("language", "").lower() or "ko"
    if role is None:
        return None, f"role '{item.get('role', '')[:20]}' is not student or parent"
    if not item.get("name") or len(item["name"]) > 100:
        return None, "name is empty or longer than 100 characters"
    if not _is_email(email):
        return None, f"'{email[:60]}' is not an e-mail address"
    if email in seen:
        return None, f"'{email}' appears twice"
    if role is OrgRole.PARENT and not child:
        return None, "a parent needs student_email"
    if language not in ("ko", "en"):
        return None, f"language '{language[:10]}' is not ko or en"
    return Row(n, role, item["name"], email, child, language), ""


async def import_roster(
    ctx: HubContext, actor: Actor, class_id: UUID, text: str, meta: RequestMeta
) -> dict[str, Any]:
    rows = parse(text)
    async with ctx.db.acting(actor.user_id) as conn:
        klass = await conn.fetchrow("SELECT org_id, zone_id FROM classes WHERE id = $1", class_id)
        if klass is None:
            raise not_found("Class")
        await managed_org(conn, actor, klass["org_id"], "import a roster")
        in_class = {
            r["email"]: r["id"]
            for r in await conn.fetch(
                """SELECT u.id, u.email FROM class_members cm JOIN users u ON u.id = cm.user_id
                   WHERE cm.class_id = $1 AND cm.role = 'student'""",
                class_id,
            )
        }
    students = {r.email for r in rows if r.role is OrgRole.STUDENT} | set(in_class)
    unknown = [r for r in rows if r.role is OrgRole.PARENT and r.student_email not in students]
    if unknown:
        raise DomainError(
            ErrorCode.VALIDATION,
            "; ".join(f"line {r.line}: no student '{r.student_email}'" for r in unknown[:20]),
            fields=[
                {"field": f"csv.line{r.line}", "message": "student_email is not a student here"}
                for r in unknown
            ],
        )
    passwords = {r.email: secrets.token_urlsafe(9) for r in rows}
    hashes = {email: await hash_password(p) for email, p in passwords.items()}
    # Creating accounts and reading who already has one cross tenants: the roster is the
    # school's own list, and existing accounts outside the school are left alone.
    async with ctx.db.system() as conn:
        result = await _apply(conn, class_id, klass, rows, passwords, hashes, in_class, actor)
        made = [c["user_id"] for c in result["created"] if c["initial_password"] is not None]
        await consent.attest_enrollment(conn, made, actor.user_id, ctx.settings.consent_version)
        await audit.record(
            conn,
            "roster.import",
            actor_id=actor.user_id,
            target_type="class",
            target_id=class_id,
            zone_id=klass["zone_id"],
            org_id=klass["org_id"],
            meta=meta,
            details={
                "created": len(result["created"]),
                "skipped": len(result["skipped"]),
                "links": len(result["links"]),
            },
        )
    return result


async def _apply(
    conn: Connection,
    class_id: UUID,
    klass: Any,
    rows: list[Row],
    passwords: dict[str, str],
    hashes: dict[str, str],
    in_class: dict[str, UUID],
    actor: Actor,
) -> dict[str, Any]:
    org_id, zone_id = klass["org_id"], klass["zone_id"]
    existing = {
        r["email"]: (r["id"], r["member"])
        for r in await conn.fetch(
            """SELECT u.id, u.email, EXISTS (SELECT 1 FROM memberships m
                                            WHERE m.user_id = u.id AND m.org_id = $2) AS member
               FROM users u WHERE u.email = ANY($1::text[]) AND u.deleted_at IS NULL""",
            [r.email for r in rows],
            org_id,
        )
    }
    ids: dict[str, UUID] = dict(in_class)
    created, skipped = [], []
    for row in rows:
        if row.email in existing:
            user_id, member = existing[row.email]
            if not member:
                skipped.append(
                    {
                        "line": row.line,
                        "email": row.email,
                        "reason": "has an account outside this school: send an invitation",
                    }
                )
                continue
            created.append(_entry(row, user_id, None))
        else:
            user_id = await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name, language)
                   VALUES ($1, $2, $3, $4) RETURNING id""",
                row.email,
                hashes[row.email],
                row.name,
                row.language,
            )
            created.append(_entry(row, user_id, passwords[row.email]))
        ids[row.email] = user_id
        await conn.execute(
            """INSERT INTO memberships (org_id, zone_id, user_id, role)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            org_id,
            zone_id,
            user_id,
            row.role.value,
        )
        if row.role is OrgRole.STUDENT:
            await conn.execute(
                """INSERT INTO class_members (class_id, org_id, zone_id, user_id, role)
                   VALUES ($1, $2, $3, $4, 'student') ON CONFLICT DO NOTHING""",
                class_id,
                org_id,
                zone_id,
                user_id,
            )
    links = []
    for row in rows:
        parent, child = ids.get(row.email), ids.get(row.student_email or "")
        if row.role is not OrgRole.PARENT or parent is None or child is None:
            continue
        # Approved by the school: no request for the child to answer.
        added = await conn.fetchval(
            """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                         requested_at, expires_at, answered_at)
               VALUES ($1, $2, $3, $4, 'approved', now(), now(), now())
               ON CONFLICT DO NOTHING RETURNING true""",
            org_id,
            zone_id,
            parent,
            child,
        )
        if added:
            links.append({"parent_id": parent, "student_id": child})
    return {"class_id": class_id, "created": created, "skipped": skipped, "links": links}


def _entry(row: Row, user_id: UUID, password: str | None) -> dict[str, Any]:
    return {
        "line": row.line,
        "email": row.email,
        "role": row.role,
        "user_id": user_id,
        "initial_password": password,
    }
