"""A person with a footprint in every corner of the platform, and a search of the whole database,
the Redis namespace and the file storage for what identifies them."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from redis.asyncio import Redis

from hub.clock import utc_now
from hub.context import HubContext
from tests import file_samples as samples
from tests.files_support import uploaded
from tests.support import PASSWORD, Factory, Org, User, send

TEXT_TYPES = ("text", "character varying", "jsonb", "json", "inet", "ARRAY", "tsvector")


@dataclass(frozen=True)
class Footprint:
    org: Org
    person: User
    teacher: User
    name: str
    texts: tuple[str, ...]
    conversation: UUID
    file_key: str
    exam_id: UUID

    @property
    def needles(self) -> list[str]:
        return [self.person.email, self.name, *self.texts]


async def footprint(
    factory: Factory, api: httpx.AsyncClient, hub: HubContext, redis: Redis
) -> Footprint:
    """A student who chatted, uploaded, asked the tutor, sat an exam, reported, consented."""
    org = await factory.org()
    tag = secrets.token_hex(3)
    person = await factory.user("student", org, email=f"minji-{tag}@school.example")
    teacher = await factory.user("teacher", org)
    name = f"김민지{tag}"
    await factory.fetch("UPDATE users SET display_name = $2 WHERE id = $1", person.id, name)
    conv = await factory.conversation("group", org, [teacher], [person], title="3학년 2반")
    texts = (f"제 전화번호는 010-1234-{tag} 이에요", f"비밀 일기 {tag} 내용")
    sent = [await send(api, person, str(conv), text) for text in texts]
    # A login (session IP and agent), a failed login naming the address, a consent with an IP.
    login = await api.post(
        "/auth/login",
        json={"email": person.email, "password": PASSWORD},
        headers={"User-Agent": f"Browser {tag}"},
    )
    assert login.status_code == 200, login.text
    await api.post("/auth/login", json={"email": person.email, "password": "wrong password"})
    consent = await api.post(
        "/consents",
        json={"kind": "privacy_policy", "version": "2026-01", "granted": True},
        headers=person.headers,
    )
    assert consent.status_code == 201, consent.text
    file = await uploaded(api, person, samples.png(color=(1, 2, 3)), f"{name}_숙제.png")
    file_key = await factory.fetchval("SELECT storage_key FROM files WHERE id = $1", file["id"])
    await factory.fetch(
        """UPDATE files SET transcript = $2 WHERE id = $1""",
        UUID(file["id"]),
        json.dumps({"text": texts[0], "segments": []}),
    )
    await factory.fetch(
        "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'android')",
        f"fcm-{tag}",
        person.id,
    )
    # What others received about the person: a message notification, and one from before a
    # rename (the data points at the person's message).
    for key, title, body, seq in (
        ("a", "3학년 2반", f"{name}: {texts[0]}", 1),
        ("b", "3학년 2반", f"Old Name: {texts[1]}", 2),
    ):
        await factory.fetch(
            """INSERT INTO notifications (user_id, dedup_key, kind, title, body, data,
                                          collapse_key)
               VALUES ($1, $2, 'message', $3, $4, $5, $6)""",
            teacher.id,
            f"conv:{conv}:{key}",
            title,
            body,
            json.dumps({"conversation_id": str(conv), "seq": str(seq)}),
            f"conv:{conv}",
        )
    await factory.fetch(
        """INSERT INTO notifications (user_id, dedup_key, kind, title, body, collapse_key)
           VALUES ($1, 'own', 'message', 'x', $2, 'x')""",
        person.id,
        texts[1],
    )
    # A report by the teacher naming the person, and one by the person.
    await factory.fetch(
        """INSERT INTO message_reports (message_id, reporter_id, zone_id, org_id, reason, note)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        UUID(sent[0]["id"]),
        teacher.id,
        org.zone_id,
        org.id,
        f"{name} shared a phone number",
        f"talked to {name}",
    )
    tutor = await _tutor(factory, org, person, texts[1])
    exam_id = await _exam(factory, org, person, tag)
    await redis.set(hub.keys.presence(str(person.id)), "1")
    await redis.xadd(hub.keys.tutor_stream(tutor), {"t": f"answer about {texts[1]}"})
    return Footprint(org, person, teacher, name, texts, conv, file_key, exam_id)


async def _tutor(factory: Factory, org: Org, person: User, question: str) -> UUID:
    conv = await factory.conversation("group", org, [], [person], title="tutor")
    await factory.fetch("UPDATE conversations SET kind = 'tutor' WHERE id = $1", conv)
    await factory.fetch(
        """INSERT INTO tutor_conversations (student_id, org_id, zone_id, conversation_id)
           VALUES ($1, $2, $3, $4)""",
        person.id,
        org.id,
        org.zone_id,
        conv,
    )
    await factory.fetch(
        """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                                 client_msg_id, content)
           VALUES ($1, $2, $3, 1, 1, NULL, 'answer', $4)""",
        conv,
        org.zone_id,
        org.id,
        f"Here is help with: {question}",
    )
    answer: UUID = await factory.fetchval(
        """INSERT INTO tutor_requests (id, user_id, zone_id, org_id, conversation_id,
                                       client_msg_id, outcome, reason, refused_question,
                                       model, prompt_tokens)
           VALUES (gen_random_uuid(), $1, $2, $3, $4, 'q1', 'refused', 'injection', $5,
                   'small', 12) RETURNING id""",
        person.id,
        org.zone_id,
        org.id,
        conv,
        question,
    )
    return answer


async def _exam(factory: Factory, org: Org, person: User, tag: str) -> UUID:
    item = await factory.fetchval(
        """INSERT INTO items (zone_id, org_id, stem, choices, answer)
           VALUES ($1, $2, '2+2?', '{3,4}', 1) RETURNING id""",
        org.zone_id,
        org.id,
    )
    exam = await factory.fetchval(
        """INSERT INTO exams (zone_id, org_id, title, mode, item_count)
           VALUES ($1, $2, 'Quiz', 'fixed', 1) RETURNING id""",
        org.zone_id,
        org.id,
    )
    now = utc_now()
    attempt = await factory.fetchval(
        """INSERT INTO attempts (exam_id, zone_id, org_id, student_id, number, status,
                                 started_at, finished_at, score, max_score)
           VALUES ($1, $2, $3, $4, 1, 'submitted', $5, $6, 1, 1) RETURNING id""",
        exam,
        org.zone_id,
        org.id,
        person.id,
        now - timedelta(minutes=5),
        now,
    )
    await factory.fetch(
        """INSERT INTO answers (attempt_id, item_id, position, zone_id, org_id, student_id,
                                choice, correct, answered_at)
           VALUES ($1, $2, 0, $3, $4, $5, 1, true, $6)""",
        attempt,
        item,
        org.zone_id,
        org.id,
        person.id,
        now,
    )
    await factory.fetch(
        """INSERT INTO proctor_events (attempt_id, exam_id, zone_id, org_id, student_id, kind,
                                       severity, server_at, details)
           VALUES ($1, $2, $3, $4, $5, 'copy', 'warning', $6, $7)""",
        attempt,
        exam,
        org.zone_id,
        org.id,
        person.id,
        now,
        json.dumps({"selection": f"copied {tag}"}),
    )
    return UUID(str(exam))


async def found_in_database(database_url: str, needles: list[str]) -> list[str]:
    """Every (table.column, needle) where a text-like column of any table contains a needle."""
    conn = await asyncpg.connect(database_url)
    try:
        columns = await conn.fetch(
            """SELECT c.table_name, c.column_name FROM information_schema.columns c
               JOIN information_schema.tables t USING (table_schema, table_name)
               WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                 AND c.data_type = ANY($1::text[])""",
            list(TEXT_TYPES),
        )
        hits = []
        for col in columns:
            table, column = col["table_name"], col["column_name"]
            for needle in needles:
                found = await conn.fetchval(
                    f'SELECT count(*) FROM "{table}" '  # names from the catalog
                    f'WHERE strpos(lower("{column}"::text), lower($1)) > 0',
                    needle,
                )
                if found:
                    hits.append(f"{table}.{column}: {needle}")
        return hits
    finally:
        await conn.close()


async def found_in_redis(redis: Redis, namespace: str, needles: list[str]) -> list[str]:
    """Keys of the namespace whose name or value contains a needle."""
    hits = []
    async for key in redis.scan_iter(match=f"{namespace}:*"):
        kind = (await redis.type(key)).decode()
        value = await _read(redis, key, kind)
        text = " ".join(_texts(key)) + " " + " ".join(_texts(value))
        hits += [f"{key!r}: {n}" for n in needles if n in text]
    return hits


def _texts(value: Any) -> list[str]:
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _texts(k) + _texts(v)]
    if isinstance(value, list | tuple | set):
        return [t for v in value for t in _texts(v)]
    return [str(value)]


async def _read(redis: Redis, key: bytes, kind: str) -> Any:
    """A key's value, whatever its type (through the generic command interface)."""
    reads = {
        "string": ("GET",),
        "hash": ("HGETALL",),
        "set": ("SMEMBERS",),
        "zset": ("ZRANGE", 0, -1),
        "list": ("LRANGE", 0, -1),
        "stream": ("XRANGE", "-", "+"),
    }
    if kind not in reads:
        return b""
    command, *rest = reads[kind]
    return await redis.execute_command(command, key, *rest)  # type: ignore[no-untyped-call]
