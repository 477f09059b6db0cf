"""How a message row is selected and how it travels to clients."""

from __future__ import annotations

from typing import Any

from hub.clock import wire_time

# A deleted message keeps its place (seq) but loses its content.
MESSAGE_COLUMNS = """id, conversation_id, seq, change_seq, sender_id, client_msg_id,
    message_type::text AS message_type,
    CASE WHEN deleted_at IS NULL THEN content END AS content,
    reply_to, ack_required, created_at, edited_at, deleted_at"""


def message_event(row: Any) -> dict[str, Any]:
    """A message as JSON for a socket event (UUIDs and times as strings)."""
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if value is None or isinstance(value, (str, int, bool)):
            out[key] = value
        elif hasattr(value, "isoformat"):
            out[key] = wire_time(value)
        else:
            out[key] = str(value)
    return out
