"""The demo school `dreamseed up` seeds once, so a newcomer can sign in straight away."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hub.chat.demo import DemoPeople, seed_demo_chat
from hub.db import Database
from hub.exams.demo import seed_demo_exams
from hub.passwords import hash_password

DEMO_PASSWORD = "dreamseed-demo"  # noqa: S105 - a public demo login, printed at start-up; not a secret
DEMO_ZONE = "kzone"
DEMO_ORG = "DreamSeed 데모 학교 (Demo School)"
DEMO_CLASS = "3학년 1반"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str  # an org role, or "sys_admin"


DEMO_USERS = [
    DemoUser("admin@demo.dreamseed.kr", "박교장 (Principal Park)", "org_admin"),
    DemoUser("teacher@demo.dreamseed.kr", "김선생 (Ms. Kim)", "teacher"),
    DemoUser("student1@demo.dreamseed.kr", "이민준 (Minjun Lee)", "student"),
    DemoUser("student2@demo.dreamseed.kr", "최서연 (Seoyeon Choi)", "student"),
    DemoUser("student3@demo.dreamseed.kr", "정하준 (Hajun Jung)", "student"),
    DemoUser("parent@demo.dreamseed.kr", "이부모 (Parent Lee)", "parent"),
    DemoUser("sysadmin@demo.dreamseed.kr", "System Admin", "sys_admin"),
]


async def seed_demo(db: Database) -> bool:
    """Create the demo school unless it exists. Returns whether anything was created."""
    password_hash = await hash_password(DEMO_PASSWORD)
    async with db.system() as conn:
        # Serialise concurrent seeders (two `up`s at once) on a transaction-scoped lock.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('dreamseed-demo-seed'))")
        if await conn.fetchval("SELECT 1 FROM organizations WHERE settings->>'demo' = 'true'"):
            return False
        zone_id: UUID = await conn.fetchval("SELECT id FROM zones WHERE slug = $1", DEMO_ZONE)
        org_id: UUID = await conn.fetchval(
            """INSERT INTO organizations (zone_id, name, kind, settings)
               VALUES ($1, $2, 'school', '{"demo": true}') RETURNING id""",
            zone_id,
            DEMO_ORG,
        )
        class_id: UUID = await conn.fetchval(
            "INSERT INTO classes (org_id, zone_id, name) VALUES ($1, $2, $3) RETURNING id",
            org_id,
            zone_id,
            DEMO_CLASS,
        )
        ids: dict[str, UUID] = {}
        for user in DEMO_USERS:
            ids[user.email] = user_id = await conn.fetchval(
                """INSERT INTO users (email, password_hash, display_name, language, is_sys_admin)
                   VALUES ($1, $2, $3, 'ko', $4)
                   ON CONFLICT (email) DO UPDATE SET display_name = EXCLUDED.display_name
                   RETURNING id""",
                user.email,
                password_hash,
                user.name,
                user.role == "sys_admin",
            )
            if user.role != "sys_admin":
                await conn.execute(
                    "INSERT INTO memberships (org_id, zone_id, user_id, role) "
                    "VALUES ($1, $2, $3, $4)",
                    org_id,
                    zone_id,
                    user_id,
                    user.role,
                )
            if user.role in ("teacher", "student"):
                await conn.execute(
                    """INSERT INTO class_members (class_id, org_id, zone_id, user_id, role)
                       VALUES ($1, $2, $3, $4, $5)""",
                    class_id,
                    org_id,
                    zone_id,
                    user_id,
                    user.role,
                )
        await conn.execute(
            """INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status,
                                         requested_at, expires_at, answered_at)
               VALUES ($1, $2, $3, $4, 'approved', now(), now() + interval '7 days', now())""",
            org_id,
            zone_id,
            ids["parent@demo.dreamseed.kr"],
            ids["student1@demo.dreamseed.kr"],
        )
        teacher_id = ids["teacher@demo.dreamseed.kr"]
        await seed_demo_exams(conn, org_id, zone_id, teacher_id, class_id)
        people = DemoPeople(
            org_id=org_id,
            zone_id=zone_id,
            teacher=teacher_id,
            students=[ids[f"student{n}@demo.dreamseed.kr"] for n in (1, 2, 3)],
            parent=ids["parent@demo.dreamseed.kr"],
        )
        await seed_demo_chat(conn, people, DEMO_CLASS)
        await conn.execute(
            "INSERT INTO audit_log (action, target_type, target_id, zone_id, org_id) "
            "VALUES ('demo.seed', 'organization', $1, $2, $3)",
            str(org_id),
            zone_id,
            org_id,
        )
    return True


def demo_logins_text() -> str:
    width = max(len(u.email) for u in DEMO_USERS)
    lines = [f"  {u.email.ljust(width)}  {u.role:<10} {u.name}" for u in DEMO_USERS]
    return "Demo logins (password: {}):\n{}".format(DEMO_PASSWORD, "\n".join(lines))


async def demo_logins(db: Database) -> list[dict[str, str]]:
    """The demo logins, while the demo school exists (the login page shows them); else none."""
    async with db.system() as conn:
        present = await conn.fetchval(
            "SELECT 1 FROM organizations WHERE settings->>'demo' = 'true' LIMIT 1"
        )
    if not present:
        return []
    return [
        {"email": u.email, "role": u.role, "name": u.name, "password": DEMO_PASSWORD}
        for u in DEMO_USERS
    ]
