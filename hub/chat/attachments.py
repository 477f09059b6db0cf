"""Files carried by messages: checked and linked when a message is sent, shown with it in
`message.new`, history and sync, and let go of when it is deleted.

Attaching runs inside the send transaction, so a refused file id (another school's, someone
else's upload the sender cannot see, an infected one) refuses the whole message: nothing
half-visible is stored.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.context import HubContext
from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from hub.files import releasing
from hub.files.records import FILE_COLUMNS, file_wire
from hub.files.types import Kind, State

_WANTED = f"""
    SELECT {FILE_COLUMNS}, f.transcript, f.org_id = c.org_id AS same_org
    FROM files f, conversations c
    WHERE c.id = $2 AND f.id = ANY($1::uuid[]) AND f.deleted_at IS NULL"""  # noqa: S608

_KINDS = {"image": {Kind.IMAGE}, "voice": {Kind.AUDIO}, "file": set(Kind)}


async def check(
    conn: Connection,
    conversation_id: UUID,
    file_ids: list[UUID],
    message_type: str,
    voice_max_s: int,
) -> list[Any]:
    """The files of a message about to be sent, in order; refused unless every one is visible
    to the sender (RLS: their own upload, or shared with them), of this conversation's
    organization, not refused, and of the message's type."""
    rows = {r["id"]: r for r in await conn.fetch(_WANTED, file_ids, conversation_id)}
    missing = [str(i) for i in file_ids if i not in rows or not rows[i]["same_org"]]
    if missing:
        raise _bad(f"Unknown files (or of another school): {', '.join(missing)}")
    ordered = [rows[i] for i in file_ids]
    for row in ordered:
        if row["state"] in (State.INFECTED, State.REFUSED):
            raise _bad(f"File {row['id']} was {row['state']} and cannot be sent: {row['reason']}")
        if Kind(row["kind"]) not in _KINDS[message_type]:
            raise _bad(f"A {message_type} message cannot carry a {row['kind']} file")
    if message_type == "voice":
        if len(ordered) != 1:
            raise _bad("A voice message carries exactly one audio file")
        duration = ordered[0]["duration_s"] or 0
        if duration > voice_max_s:
            raise _bad(f"A voice message lasts at most {voice_max_s} s (this one {duration:.0f} s)")
    return ordered


async def attach(conn: Connection, message: Any, files: list[Any]) -> list[dict[str, Any]]:
    """Link the checked files to the stored message; their wire form for message.new."""
    await conn.execute(
        """INSERT INTO message_files (message_id, file_id, conversation_id, zone_id, org_id,
                                      position)
           SELECT $1, f.id, $2, f.zone_id, f.org_id, w.position
           FROM unnest($3::uuid[]) WITH ORDINALITY AS w(file_id, position)
           JOIN files f ON f.id = w.file_id""",
        message["id"],
        message["conversation_id"],
        [f["id"] for f in files],
    )
    return [attachment_wire(f) for f in files]


def searchable(content: str, files: list[Any] | None) -> str:
    """The text a message is found by: its caption, and the transcripts of its voice files."""
    spoken = [f["transcript"]["text"] for f in files or () if f["transcript"]]
    return "\n".join([content, *spoken]) if spoken else content


def attachment_wire(row: Any) -> dict[str, Any]:
    wire: dict[str, Any] = dict(file_wire(row))
    transcript = row["transcript"]
    wire["transcript"] = (
        None
        if transcript is None
        else {k: transcript[k] for k in ("language", "text", "segments") if k in transcript}
    )
    return wire


async def add_to(conn: Connection, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each image/file/voice message of a page its attachments (one query, none for a
    page of text). Deleted messages carry none."""
    wanted = [
        m["id"]
        for m in messages
        if m.get("message_type") not in ("text", "system") and m.get("deleted_at") is None
    ]
    rows = (
        []
        if not wanted
        else await conn.fetch(
            f"""SELECT mf.message_id, {FILE_COLUMNS}, f.transcript
            FROM message_files mf JOIN files f ON f.id = mf.file_id
            WHERE mf.message_id = ANY($1::uuid[])
            ORDER BY mf.message_id, mf.position""",  # noqa: S608 - FILE_COLUMNS is a constant
            [UUID(str(i)) for i in wanted],
        )
    )
    by_message: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_message.setdefault(str(row["message_id"]), []).append(attachment_wire(row))
    for message in messages:
        if message.get("message_type") not in ("text", "system"):
            message["attachments"] = by_message.get(str(message["id"]), [])
    return messages


async def after_delete(ctx: HubContext, message_ids: list[UUID]) -> None:
    """The files of deleted messages become unreachable: records retired, bytes released
    unless another live record of the same content needs them."""
    async with ctx.db.system() as conn:
        keys = await releasing.retire_message_files(conn, message_ids)
    if keys:
        await releasing.release_keys(ctx, keys)


def _bad(message: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, field="attachment_ids")
