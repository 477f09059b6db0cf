"""Catching up after a gap or a reconnect: everything after the client's positions.

The reply comes from PostgreSQL, never from a memory of what was sent: new messages after
`seq` (a bounded page, with `has_more`), and, when the client gives its `change` position,
the edits, deletions and membership changes it missed, plus unread counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from hub.chat import attachments, partitions
from hub.chat.rows import MESSAGE_COLUMNS, message_event
from hub.context import Actor, HubContext
from schema.models.chat import SyncPosition, SyncRequest


async def sync(ctx: HubContext, actor: Actor, body: SyncRequest) -> dict[str, Any]:
    positions = body.positions()
    ids = list(positions)
    async with ctx.db.acting_lean(actor.user_id) as conn:
        convs = {
            r["id"]: r
            for r in await conn.fetch(
                """SELECT c.id, c.last_seq, c.change_seq, p.last_read_seq
                   FROM participants p JOIN conversations c ON c.id = p.conversation_id
                   WHERE p.user_id = $1 AND p.left_at IS NULL""",
                actor.user_id,
            )
        }
        wanted = [
            cid for cid in ids if cid in convs and positions[cid].seq <= convs[cid]["last_seq"]
        ]
        if not any(_behind(positions[cid], convs[cid]) for cid in wanted):
            # Up to date (every client after a hub restart, at once): the counters are the
            # whole answer, and the message reads below would all come back empty.
            return _shape(actor, positions, convs, [], [], [], body.limit)
        # Changes reach back to any month, archived ones too (hub/chat/partitions.py): taken
        # before the first read of `messages`.
        await partitions.reading_archive(conn)
        # The hot months first; conversations whose page there has a hole or stops short of
        # their last seq (seqs are gap-free) are read again over every month.
        hot = partitions.hot_since(ctx.clock(), ctx.settings)
        after = {c: positions[c].seq for c in wanted}
        new_rows = await conn.fetch(_NEW, wanted, list(after.values()), body.limit + 1, hot)
        short = _incomplete(new_rows, after, convs, body.limit)
        if short:
            new_rows = [r for r in new_rows if r["conversation_id"] not in short]
            new_rows += await conn.fetch(
                _NEW, list(short), [after[c] for c in short], body.limit + 1, _EVER
            )
        with_change = [c for c in wanted if positions[c].change is not None]
        changed_rows = await conn.fetch(
            f"""SELECT {MESSAGE_COLUMNS} FROM messages m
                JOIN unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS req(cid, after_change, upto)
                  ON m.conversation_id = req.cid AND m.change_seq > req.after_change
                 AND m.seq <= req.upto
                ORDER BY conversation_id, change_seq LIMIT 5000""",  # noqa: S608
            with_change,
            [positions[c].change for c in with_change],
            [positions[c].seq for c in with_change],
        )
        membership_rows = await conn.fetch(
            """SELECT e.conversation_id, e.change_seq, e.kind, e.user_id, e.created_at
               FROM conversation_events e
               JOIN unnest($1::uuid[], $2::bigint[]) AS req(cid, after_change)
                 ON e.conversation_id = req.cid AND e.change_seq > req.after_change
               ORDER BY e.conversation_id, e.change_seq LIMIT 5000""",
            with_change,
            [positions[c].change for c in with_change],
        )
        shaped = _shape(
            actor, positions, convs, new_rows, changed_rows, membership_rows, body.limit
        )
        await attachments.add_to(
            conn,
            [
                m
                for entry in shaped["conversations"].values()
                for m in entry.get("messages", []) + entry.get("changes", [])
            ],
        )
    return shaped


def _behind(position: SyncPosition, conv: Any) -> bool:
    """Whether the conversation holds anything after the client's position: a message after
    its seq, or (when it gives one) a change after its change position. Every edit, deletion
    and membership change takes its number from the conversation's change_seq."""
    if position.seq < conv["last_seq"]:
        return True
    return position.change is not None and position.change < conv["change_seq"]


_NEW = f"""
    SELECT * FROM (
        SELECT {MESSAGE_COLUMNS},
               row_number() OVER (PARTITION BY conversation_id ORDER BY seq) AS rn
        FROM messages m
        JOIN unnest($1::uuid[], $2::bigint[]) AS req(cid, after_seq)
          ON m.conversation_id = req.cid AND m.seq > req.after_seq
        WHERE m.created_at >= $4
    ) page WHERE rn <= $3 ORDER BY conversation_id, seq"""  # noqa: S608 - constant columns
_EVER = datetime.min.replace(tzinfo=UTC)


def _incomplete(
    rows: list[Any], after: dict[UUID, int], convs: dict[UUID, Any], limit: int
) -> set[UUID]:
    """Conversations whose rows are not exactly after+1, after+2, ... up to the page's end."""
    seqs: dict[UUID, list[int]] = {c: [] for c in after}
    for row in rows:
        seqs[row["conversation_id"]].append(row["seq"])
    short = set()
    for cid, got in seqs.items():
        want = min(convs[cid]["last_seq"] - after[cid], limit + 1)
        expected = list(range(after[cid] + 1, after[cid] + 1 + want))
        # A send committed since `convs` was read may add one more at the end: still whole.
        if got[: len(expected)] != expected:
            short.add(cid)
    return short


def _shape(
    actor: Actor,
    positions: dict[UUID, Any],
    convs: dict[UUID, Any],
    new_rows: list[Any],
    changed_rows: list[Any],
    membership_rows: list[Any],
    limit: int,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for cid, pos in positions.items():
        conv = convs.get(cid)
        if conv is None:
            result[str(cid)] = {
                "error": {"code": "not_found", "message": "Conversation was not found"}
            }
        elif pos.seq > conv["last_seq"]:
            result[str(cid)] = {
                "error": {
                    "code": "validation_error",
                    "last_seq": conv["last_seq"],
                    "message": f"seq {pos.seq} is beyond the conversation's last seq "
                    f"{conv['last_seq']}",
                }
            }
        else:
            result[str(cid)] = {
                "messages": [],
                "changes": [],
                "membership": [],
                "has_more": False,
                **_counters(conv),
            }
    for row in new_rows:
        entry = result[str(row["conversation_id"])]
        if row["rn"] > limit:
            entry["has_more"] = True
        else:
            entry["messages"].append(message_event({k: v for k, v in row.items() if k != "rn"}))
    for row in changed_rows:
        result[str(row["conversation_id"])]["changes"].append(message_event(row))
    for row in membership_rows:
        result[str(row["conversation_id"])]["membership"].append(message_event(row))
    others = {str(cid): _counters(conv) for cid, conv in convs.items() if cid not in positions}
    return {"conversations": result, "others": others}


def _counters(conv: Any) -> dict[str, int]:
    return {
        "last_seq": conv["last_seq"],
        "change_seq": conv["change_seq"],
        "unread_count": max(conv["last_seq"] - conv["last_read_seq"], 0),
    }
