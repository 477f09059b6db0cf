"""Who is told what, and handing it to FCM.

Recording comes first and commits: each notification is a row (the in-app center) keyed by
what it is about, so a job that runs twice records once. Pushes go out after the commit and
mark their row sent; a job killed in between sends again with the same collapse key, which
the phone shows once (delivery to FCM is at-least-once).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.notify import devices
from hub.notify.push import Push, PushSender
from hub.notify.quiet import in_quiet_hours

logger = logging.getLogger("dreamseed.notify")


class RetryLater(Exception):
    """FCM asked us to come back later for some pushes."""

    def __init__(self, after_s: float) -> None:
        super().__init__(f"retry in {after_s:.1f} s")
        self.after_s = after_s


@dataclass(frozen=True)
class Outcome:
    recorded: int
    pushed: int
    skipped_online: int
    dedup_key: str | None = None
    announcement: bool = False


async def conversation_activity(
    ctx: HubContext, sender: PushSender, conversation_id: UUID
) -> Outcome:
    """New messages: each offline, unmuted member with push on gets one notification
    summarising what they have not seen since the last one. Then the conversation's
    notified_seq moves up to what was told, which the outbox sweep (hub/notify/outbox.py)
    compares with last_seq to find jobs that Redis lost."""
    told = await _tell_members(ctx, sender, conversation_id)
    if told.seq:
        # Its own statement after the commit: the members' rows were locked before this row
        # there, the opposite of a send's order, which would deadlock. A job killed in between
        # is found lagging by the sweep and runs again, finding nothing left to tell.
        async with ctx.db.system() as conn:
            await conn.execute(
                """UPDATE conversations SET notified_seq = $2
                   WHERE id = $1 AND notified_seq < $2""",
                conversation_id,
                told.seq,
            )
    return told.outcome


@dataclass(frozen=True)
class _Told:
    outcome: Outcome
    seq: int  # the conversation's last_seq when the job looked (0: no conversation)


async def _tell_members(ctx: HubContext, sender: PushSender, conversation_id: UUID) -> _Told:
    now = ctx.clock()
    async with ctx.db.system() as conn:
        conv = await conn.fetchrow(
            "SELECT kind::text, title, last_seq FROM conversations WHERE id = $1", conversation_id
        )
        if conv is None:
            return _Told(Outcome(0, 0, 0), 0)
        members = await conn.fetch(
            """SELECT p.user_id, greatest(p.last_read_seq, p.last_notified_seq) AS seen,
                      u.language, u.timezone, np.quiet_start, np.quiet_end
               FROM participants p JOIN users u ON u.id = p.user_id
               LEFT JOIN notification_preferences np ON np.user_id = p.user_id
               WHERE p.conversation_id = $1 AND p.left_at IS NULL AND NOT p.muted
                 AND p.push_enabled AND u.deleted_at IS NULL
                 AND greatest(p.last_read_seq, p.last_notified_seq) < $2
               FOR UPDATE OF p""",
            conversation_id,
            conv["last_seq"],
        )
        if not members:
            return _Told(Outcome(0, 0, 0), conv["last_seq"])
        first = min(m["seen"] for m in members)
        messages = await conn.fetch(
            """SELECT m.seq, m.sender_id, m.urgent, m.content, u.display_name
               FROM messages m LEFT JOIN users u ON u.id = m.sender_id
               WHERE m.conversation_id = $1 AND m.seq > $2 AND m.deleted_at IS NULL
               ORDER BY m.seq""",
            conversation_id,
            first,
        )
        states = await ctx.presence.states(
            [m["user_id"] for m in members], int(now.timestamp() * 1000)
        )
        dedup = f"conv:{conversation_id}:{conv['last_seq']}"
        rows = []
        for member in members:
            if states[member["user_id"]].online:
                continue  # they saw it live
            unseen = [
                m
                for m in messages
                if m["seq"] > member["seen"] and m["sender_id"] != member["user_id"]
            ]
            if not unseen:
                continue
            urgent = any(m["urgent"] for m in unseen)
            quiet = in_quiet_hours(
                now, member["timezone"], member["quiet_start"], member["quiet_end"]
            )
            title, body = _summary(conv, unseen, member["language"])
            rows.append(
                (
                    member["user_id"],
                    dedup,
                    "announcement" if conv["kind"] == "announcement" else "message",
                    title,
                    body,
                    {"conversation_id": str(conversation_id), "seq": str(unseen[-1]["seq"])},
                    f"conv:{conversation_id}",
                    urgent,
                    "held" if quiet and not urgent else "pending",
                )
            )
        await _record(conn, rows)
        await conn.execute(
            """UPDATE participants SET last_notified_seq = $2
               WHERE conversation_id = $1 AND user_id = ANY($3::uuid[])""",
            conversation_id,
            conv["last_seq"],
            [m["user_id"] for m in members],
        )
    pushed = await deliver(ctx, sender, dedup)
    online = sum(1 for s in states.values() if s.online)
    outcome = Outcome(len(rows), pushed, online, dedup, conv["kind"] == "announcement")
    return _Told(outcome, conv["last_seq"])


def _summary(conv: Any, unseen: list[Any], language: str) -> tuple[str, str]:
    senders = Counter(m["display_name"] or "?" for m in unseen)
    name, _ = senders.most_common(1)[0]
    title = conv["title"] or name
    if len(unseen) == 1:
        return title, f"{name}: {_excerpt(unseen[0]['content'])}"
    if len(senders) == 1:
        body = (
            f"{name}님의 새 메시지 {len(unseen)}개"
            if language == "ko"
            else f"{len(unseen)} new messages from {name}"
        )
    else:
        body = (
            f"새 메시지 {len(unseen)}개 ({name} 외 {len(senders) - 1}명)"
            if language == "ko"
            else f"{len(unseen)} new messages from {name} and {len(senders) - 1} more"
        )
    return title, body


def _excerpt(text: str | None, limit: int = 120) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _record(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    """One statement for any number of rows (an announcement to 10,000 is one round trip)."""
    if rows:
        columns = list(zip(*rows, strict=True))
        await conn.execute(
            """INSERT INTO notifications (user_id, dedup_key, kind, title, body, data,
                                          collapse_key, urgent, push_state)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::jsonb[], $7::text[], $8::boolean[], $9::text[])
               ON CONFLICT (user_id, dedup_key) DO NOTHING""",
            *[list(c) for c in columns],
        )


async def tell_users(
    ctx: HubContext,
    sender: PushSender,
    user_ids: list[UUID],
    *,
    kind: str,
    title: str,
    body: str,
    data: dict[str, str],
    dedup_key: str,
    urgent: bool,
) -> int:
    """A notification for named people (a parent's alert, a link request), recorded once."""
    now = ctx.clock()
    async with ctx.db.system() as conn:
        users = await conn.fetch(
            """SELECT u.id, u.timezone, np.quiet_start, np.quiet_end FROM users u
               LEFT JOIN notification_preferences np ON np.user_id = u.id
               WHERE u.id = ANY($1::uuid[]) AND u.deleted_at IS NULL""",
            user_ids,
        )
        await _record(
            conn,
            [
                (
                    u["id"],
                    dedup_key,
                    kind,
                    title,
                    body,
                    data,
                    f"{kind}:{dedup_key}",
                    urgent,
                    "held"
                    if not urgent
                    and in_quiet_hours(now, u["timezone"], u["quiet_start"], u["quiet_end"])
                    else "pending",
                )
                for u in users
            ],
        )
    return await deliver(ctx, sender, dedup_key)


async def deliver(ctx: HubContext, sender: PushSender, dedup_key: str) -> int:
    """Push every pending notification with this key to its owner's devices."""
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT n.id, n.user_id, n.title, n.body, n.data, n.collapse_key, n.urgent, d.token
               FROM notifications n LEFT JOIN devices d ON d.user_id = n.user_id
               WHERE n.dedup_key = $1 AND n.push_state = 'pending'""",
            dedup_key,
        )
    pushes = [
        Push(
            token=r["token"],
            title=r["title"],
            body=r["body"],
            data={**r["data"], "notification_id": str(r["id"])},
            collapse_key=r["collapse_key"],
            urgent=r["urgent"],
        )
        for r in rows
        if r["token"] is not None
    ]
    results = await sender.send(pushes) if pushes and sender.enabled else []
    by_token = {r["token"]: r for r in rows}
    sent: set[UUID] = set()
    retry_after: float | None = None
    dead_tokens = []
    for result in results:
        row = by_token[result.token]
        if result.status == "ok":
            sent.add(row["id"])
        elif result.status == "unregistered":
            dead_tokens.append(result.token)
        elif result.status == "retry":
            retry_after = max(retry_after or 0.0, result.retry_after or 1.0)
        else:
            logger.warning("push to a device failed: %s", result.error)
    await devices.prune_tokens(ctx, dead_tokens)
    no_device = {r["id"] for r in rows if r["token"] is None or not sender.enabled}
    async with ctx.db.system() as conn:
        await conn.execute(
            """UPDATE notifications SET push_state = 'sent', pushed_at = now()
               WHERE id = ANY($1::uuid[]) AND push_state = 'pending'""",
            list(sent),
        )
        unreached = {r["id"] for r in rows} - sent - no_device
        if retry_after is None:
            # Nothing more will come of the rest (no device left, or a permanent failure).
            no_device |= unreached
        await conn.execute(
            """UPDATE notifications SET push_state = 'skipped'
               WHERE id = ANY($1::uuid[]) AND push_state = 'pending'""",
            list(no_device - sent),
        )
        badges = await conn.fetch(
            """SELECT user_id, count(*) FILTER (WHERE read_at IS NULL) AS unread
               FROM notifications WHERE user_id = ANY($1::uuid[]) GROUP BY user_id""",
            list({r["user_id"] for r in rows}),
        )
    for badge in badges:
        await ctx.bus.to_user(badge["user_id"], "notification.badge", {"unread": badge["unread"]})
    if retry_after is not None:
        raise RetryLater(retry_after)
    return len(sent)
