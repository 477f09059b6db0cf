"""The demo school's conversations: a class group, an announcement channel with one
announcement, and a teacher-student chat, so a newcomer's first screen is a living school.

Written once, inside the demo seed's transaction, with the same columns `send_message` fills
(gap-free seqs, search tokens), so history, search and sync treat them like any message.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hub.chat import search
from hub.db import Connection


@dataclass(frozen=True)
class DemoPeople:
    org_id: UUID
    zone_id: UUID
    teacher: UUID
    students: list[UUID]
    parent: UUID


@dataclass(frozen=True)
class DemoLine:
    sender: UUID
    text: str
    ack_required: bool = False


async def seed_demo_chat(conn: Connection, people: DemoPeople, class_name: str) -> None:
    teacher, first = people.teacher, people.students[0]
    group = await _conversation(conn, people, "group", f"{class_name} 대화방")
    await _members(conn, people, group, {teacher: "admin"} | {s: "member" for s in people.students})
    await _messages(
        conn,
        people,
        group,
        [
            DemoLine(teacher, "여러분 안녕하세요! 우리 반 대화방입니다. Welcome, class!"),
            DemoLine(people.students[1], "안녕하세요 선생님 😊"),
            DemoLine(people.students[2], "내일 수학 시험 범위가 어디까지인가요?"),
            DemoLine(teacher, "교과서 3단원까지입니다. Chapter 3 of the textbook."),
        ],
    )
    news = await _conversation(conn, people, "announcement", f"{class_name} 공지 (Announcements)")
    await _members(
        conn,
        people,
        news,
        {teacher: "admin", people.parent: "member"} | {s: "member" for s in people.students},
    )
    await _messages(
        conn,
        people,
        news,
        [
            DemoLine(
                teacher,
                "[공지] 금요일 현장학습 동의서를 목요일까지 제출해 주세요. "
                "Please return the field-trip consent form by Thursday.",
                ack_required=True,
            )
        ],
    )
    direct = await _conversation(
        conn, people, "direct", None, direct_key=":".join(sorted((str(teacher), str(first))))
    )
    await _members(conn, people, direct, {teacher: "member", first: "member"})
    await _messages(
        conn,
        people,
        direct,
        [
            DemoLine(first, "선생님, 2번 문제 풀이를 잘 모르겠어요."),
            DemoLine(teacher, "어느 부분이 어려웠나요? 식을 세우는 부분인가요?"),
            DemoLine(first, "네, 식을 세우는 게 어려워요. How do I start?"),
            DemoLine(teacher, "좋아요, 내일 쉬는 시간에 같이 풀어 봐요. Let's do it tomorrow."),
        ],
    )


async def _conversation(
    conn: Connection,
    people: DemoPeople,
    kind: str,
    title: str | None,
    direct_key: str | None = None,
) -> UUID:
    conversation_id: UUID = await conn.fetchval(
        """INSERT INTO conversations (zone_id, org_id, kind, title, direct_key, created_by)
           VALUES ($1, $2, $3::conversation_kind, $4, $5, $6) RETURNING id""",
        people.zone_id,
        people.org_id,
        kind,
        title,
        direct_key,
        people.teacher,
    )
    return conversation_id


async def _members(
    conn: Connection, people: DemoPeople, conversation_id: UUID, roles: dict[UUID, str]
) -> None:
    await conn.executemany(
        """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role)
           VALUES ($1, $2, $3, $4, $5::participant_role)""",
        [(conversation_id, uid, people.zone_id, people.org_id, r) for uid, r in roles.items()],
    )


async def _messages(
    conn: Connection, people: DemoPeople, conversation_id: UUID, lines: list[DemoLine]
) -> None:
    for seq, line in enumerate(lines, start=1):
        await conn.execute(
            """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                                     client_msg_id, content, ack_required, search_tokens,
                                     created_at)
               VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, array_to_tsvector($9::text[]),
                       now() - make_interval(mins => $10))""",
            conversation_id,
            people.zone_id,
            people.org_id,
            seq,
            line.sender,
            f"demo-{conversation_id}-{seq}",
            line.text,
            line.ack_required,
            search.tokens(line.text),
            len(lines) - seq,
        )
        # Each sender has read up to their own message.
        await conn.execute(
            """UPDATE participants SET last_read_seq = $3
               WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3""",
            conversation_id,
            line.sender,
            seq,
        )
    await conn.execute(
        """UPDATE conversations SET last_seq = $2, change_seq = $2, last_message_at = now()
           WHERE id = $1""",
        conversation_id,
        len(lines),
    )
