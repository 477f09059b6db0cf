"""Test helpers for exams: a school with a teacher and students, an item bank, an exam."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx

from tests.support import Factory, Org, User


@dataclass
class School:
    org: Org
    teacher: User
    students: list[User]


async def school(factory: Factory, students: int = 2) -> School:
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    return School(org, teacher, [await factory.user("student", org) for _ in range(students)])


async def make_items(
    api: httpx.AsyncClient,
    teacher: User,
    org: Org,
    count: int,
    *,
    answer: int = 1,
    params: list[dict[str, float]] | None = None,
    areas: list[str] | None = None,
) -> list[dict[str, Any]]:
    """`count` four-choice items whose key is `answer`, with the given IRT parameters."""
    items = []
    for i in range(count):
        body: dict[str, Any] = {
            "org_id": str(org.id),
            "stem": f"Question {i + 1}: 2 + {i} = ?",
            "choices": ["a", "b", "c", "d"],
            "answer": answer,
        }
        if params is not None:
            body["params"] = params[i]
        if areas is not None:
            body["content_area"] = areas[i]
        response = await api.post("/items", json=body, headers=teacher.headers)
        assert response.status_code == 201, response.text
        items.append(response.json())
    return items


async def make_exam(
    api: httpx.AsyncClient,
    teacher: User,
    org: Org,
    items: list[dict[str, Any]],
    mode: str,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "org_id": str(org.id),
        "title": f"{mode.upper()} exam",
        "mode": mode,
        "item_ids": [i["id"] for i in items],
        **extra,
    }
    response = await api.post("/exams", json=body, headers=teacher.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def start(api: httpx.AsyncClient, student: User, exam: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/exams/{exam['id']}/attempts", headers=student.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def answer(
    api: httpx.AsyncClient, student: User, attempt_id: str, item_id: str, choice: int
) -> httpx.Response:
    return await api.post(
        f"/attempts/{attempt_id}/answers",
        json={"item_id": item_id, "choice": choice},
        headers=student.headers,
    )


async def make_class(factory: Factory, org: Org, students: list[User]) -> UUID:
    """A class of `org` with these students (made straight in the database)."""
    class_id: UUID = await factory.fetchval(
        "INSERT INTO classes (org_id, zone_id, name) VALUES ($1, $2, $3) RETURNING id",
        org.id,
        org.zone_id,
        f"3-{uuid4().hex[:4]}",
    )
    for user in students:
        await factory.fetch(
            "INSERT INTO class_members (class_id, org_id, zone_id, user_id, role) "
            "VALUES ($1, $2, $3, $4, 'student')",
            class_id,
            org.id,
            org.zone_id,
            user.id,
        )
    return class_id
