"""Quiet hours over: what was held is summarised in one push per person."""

from __future__ import annotations

from uuid import UUID

from hub.context import HubContext
from hub.notify.push import Push, PushSender
from hub.notify.quiet import in_quiet_hours


async def release_held(ctx: HubContext, sender: PushSender) -> int:
    now = ctx.clock()
    async with ctx.db.system() as conn:
        rows = await conn.fetch(
            """SELECT n.user_id, count(*) AS held, u.language, u.timezone,
                      np.quiet_start, np.quiet_end,
                      coalesce(array_agg(DISTINCT d.token) FILTER (WHERE d.token IS NOT NULL),
                               '{}') AS tokens
               FROM notifications n JOIN users u ON u.id = n.user_id
               LEFT JOIN notification_preferences np ON np.user_id = n.user_id
               LEFT JOIN devices d ON d.user_id = n.user_id
               WHERE n.push_state = 'held'
               GROUP BY n.user_id, u.language, u.timezone, np.quiet_start, np.quiet_end"""
        )
    due = [
        r for r in rows if not in_quiet_hours(now, r["timezone"], r["quiet_start"], r["quiet_end"])
    ]
    pushes = [
        Push(
            token=token,
            title="DreamSeed",
            body=(
                f"조용한 시간 동안 알림 {r['held']}개가 있었어요"
                if r["language"] == "ko"
                else f"{r['held']} notifications while you were away"
            ),
            data={"kind": "summary"},
            collapse_key=f"summary:{r['user_id']}",
            urgent=False,
        )
        for r in due
        for token in r["tokens"]
    ]
    if pushes and sender.enabled:
        await sender.send(pushes)
    users: list[UUID] = [r["user_id"] for r in due]
    async with ctx.db.system() as conn:
        await conn.execute(
            """UPDATE notifications SET push_state = 'summarised', pushed_at = now()
               WHERE push_state = 'held' AND user_id = ANY($1::uuid[])""",
            users,
        )
    return len(users)
