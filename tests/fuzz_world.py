"""Two schools with one of everything, for the fuzzers and the tenancy sweep.

Each school has an org admin, a teacher, a student and a parent, and one object of every kind
a route or an event takes by id: the sweep asks every route for school B's objects as school A's
people. Objects are made through the API where that is cheap, straight in the database where
the real path needs a worker or a model server (a notification, a tutor answer, an erasure).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx

from hub.clock import utc_now
from tests.file_samples import png
from tests.support import Factory, Org, User


@dataclass
class School:
    org: Org
    admin: User
    teacher: User
    student: User
    parent: User
    # path parameter name -> an id of this school that the parameter accepts
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def people(self) -> dict[str, User]:
        return {"student": self.student, "teacher": self.teacher, "org_admin": self.admin}


async def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    return dict(response.json()) if response.content else {}


async def build_school(
    api: httpx.AsyncClient, factory: Factory, name: str, zone: str = "kzone"
) -> School:
    """A school and one object of each kind, ids keyed by the path parameter that names them."""
    org = await factory.org(zone=zone, name=name)
    school = School(
        org,
        await factory.user("org_admin", org),
        await factory.user("teacher", org),
        await factory.user("student", org),
        await factory.user("parent", org),
    )
    t, s, a = school.teacher, school.student, school.admin
    ids = school.ids
    ids["org_id"], ids["zone_id"], ids["user_id"] = str(org.id), str(org.zone_id), str(s.id)

    klass = await _ok(
        await api.post(f"/organizations/{org.id}/classes", json={"name": "1-1"}, headers=a.headers)
    )
    ids["class_id"] = klass["id"]
    room = await _ok(
        await api.post(
            "/conversations",
            json={"kind": "group", "org_id": str(org.id), "title": "R", "member_ids": [str(s.id)]},
            headers=t.headers,
        )
    )
    ids["conversation_id"] = room["id"]
    sent = await _ok(
        await api.post(
            f"/conversations/{room['id']}/messages",
            json={"client_msg_id": f"w-{secrets.token_hex(4)}", "content": "hello"},
            headers=t.headers,
        )
    )
    ids["message_id"] = sent["id"]
    report = await _ok(
        await api.post(
            f"/messages/{ids['message_id']}/report", json={"reason": "rude"}, headers=s.headers
        )
    )
    ids["report_id"] = str(report["id"])
    item = await _ok(
        await api.post(
            "/items",
            json={"org_id": str(org.id), "stem": "1+1?", "choices": ["1", "2"], "answer": 1},
            headers=t.headers,
        )
    )
    ids["item_id"] = item["id"]
    exam = await _ok(
        await api.post(
            "/exams",
            json={
                "org_id": str(org.id),
                "title": "E",
                "mode": "fixed",
                "item_ids": [item["id"]],
                "max_attempts": 2,
            },
            headers=t.headers,
        )
    )
    ids["exam_id"] = exam["id"]
    attempt = await _ok(await api.post(f"/exams/{exam['id']}/attempts", headers=s.headers))
    ids["attempt_id"] = attempt["id"]
    invitation = await _ok(
        await api.post(
            f"/organizations/{org.id}/invitations", json={"role": "student"}, headers=a.headers
        )
    )
    ids["invitation_id"] = invitation["id"]
    link = await _ok(
        await api.post(
            "/parent/link-student", json={"student_email": s.email}, headers=school.parent.headers
        ),
        202,
    )
    ids["link_id"] = await factory.fetchval(
        "SELECT id::text FROM parent_links WHERE parent_id = $1", school.parent.id
    )
    assert link is not None
    uploaded = await _ok(
        await api.post(
            "/files",
            params={"org_id": str(org.id), "name": "a.png"},
            content=png(),
            headers=t.headers,
        )
    )
    ids["file_id"] = uploaded["id"]
    name = base64.b64encode(b"b.png").decode()
    oid = base64.b64encode(str(org.id).encode()).decode()
    tus = await api.post(
        "/files/tus",
        headers={
            **t.headers,
            "Upload-Length": "10",
            "Upload-Metadata": f"filename {name},org_id {oid}",
        },
    )
    assert tus.status_code == 201, tus.text
    ids["upload_id"] = tus.headers["location"].rsplit("/", 1)[-1]
    token = f"fcm-{secrets.token_hex(16)}"
    await _ok(
        await api.post("/devices", json={"platform": "web", "token": token}, headers=t.headers)
    )
    ids["token"] = token
    export = await _ok(await api.post("/users/me/export", json={}, headers=t.headers), 202)
    ids["export_id"] = export["id"]
    await _store_the_rest(factory, school)
    return school


async def _store_the_rest(factory: Factory, school: School) -> None:
    """What only a worker or a model server makes: a notification, a tutor answer, an erasure."""
    org, t = school.org, school.teacher
    conn = await asyncpg.connect(factory.owner_dsn)
    try:
        school.ids["notification_id"] = str(
            await conn.fetchval(
                """INSERT INTO notifications (user_id, dedup_key, kind, title, body, collapse_key)
                   VALUES ($1, $2, 'message', 't', 'b', 'c') RETURNING id""",
                t.id,
                secrets.token_hex(4),
            )
        )
        answer_id = uuid4()
        await conn.execute(
            """INSERT INTO tutor_requests (id, user_id, zone_id, org_id, client_msg_id, outcome)
               VALUES ($1, $2, $3, $4, 'q1', 'done')""",
            answer_id,
            t.id,
            org.zone_id,
            org.id,
        )
        school.ids["answer_id"] = str(answer_id)
        gone = uuid4()
        school.ids["erasure_id"] = str(
            await conn.fetchval(
                """INSERT INTO erasures (subject_id, subject_hash, requested_by, requested_role,
                                         zone_ids, org_ids, requested_at)
                   VALUES ($1, $2, $3, 'org_admin', $4, $5, $6) RETURNING id""",
                gone,
                hashlib.sha256(gone.bytes).hexdigest(),
                school.admin.id,
                [org.zone_id],
                [org.id],
                utc_now() - timedelta(minutes=1),
            )
        )
    finally:
        await conn.close()


def event_seeds(school: School) -> dict[str, dict[str, Any]]:
    """A valid payload for every event of both namespaces (the fuzzer's starting points)."""
    ids, now = school.ids, datetime.now(UTC).isoformat()
    room, message = ids["conversation_id"], ids["message_id"]
    return {
        "message.send": {"conversation_id": room, "client_msg_id": "f-1", "content": "hi"},
        "message.edit": {"message_id": message, "content": "edited"},
        "message.delete": {"message_id": message},
        "message.read": {"conversation_id": room, "seq": 1},
        "message.ack": {"message_id": message},
        "message.read_status": {"message_id": message},
        "sync": {"conversations": {room: 0}},
        "presence.query": {"user_ids": [str(school.teacher.id)]},
        "tutor.ask": {"client_msg_id": "t-1", "question": "What is 2 + 2?"},
        "tutor.cancel": {"answer_id": ids["answer_id"]},
        "tutor.resume": {"answer_id": ids["answer_id"], "offset": 0},
        "message.typing": {"conversation_id": room, "typing": True},
        "auth.refresh": {"access_token": school.student.token},
        "heartbeat": {"client_time": now, "question": 1},
        "event": {"kind": "focus_lost", "client_time": now},
        "roster": {},
        "warn": {"attempt_id": ids["attempt_id"], "message": "eyes on your screen"},
        "extend": {"attempt_id": ids["attempt_id"], "seconds": 60},
        "end": {"attempt_id": ids["attempt_id"], "reason": "fuzzing"},
    }
