"""How a file row is selected and how it travels to clients (REST replies and socket events)."""

from __future__ import annotations

from typing import Any, TypedDict

FILE_COLUMNS = """f.id, f.name, f.mime, f.kind::text AS kind, f.size, f.state::text AS state,
    f.reason, f.width, f.height, f.duration_s, f.thumbnail_key IS NOT NULL AS has_thumbnail,
    f.created_at, f.uploader_id, f.org_id"""


class Transcript(TypedDict):
    language: str
    text: str
    segments: list[dict[str, Any]]


class FileWire(TypedDict):
    id: str
    name: str
    type: str
    kind: str
    size: int
    state: str
    reason: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    url: str
    thumbnail_url: str | None
    created_at: str


def file_wire(row: Any, prefix: str = "/api/v1") -> FileWire:
    """A file as JSON: where to fetch it and its thumbnail, what it is, whether it is ready."""
    file_id = str(row["id"])
    return {
        "id": file_id,
        "name": row["name"],
        "type": row["mime"],
        "kind": row["kind"],
        "size": int(row["size"]),
        "state": row["state"],
        "reason": row["reason"],
        "width": row["width"],
        "height": row["height"],
        "duration_s": None if row["duration_s"] is None else round(float(row["duration_s"]), 2),
        "url": f"{prefix}/files/{file_id}",
        "thumbnail_url": f"{prefix}/files/{file_id}/thumbnail" if row["has_thumbnail"] else None,
        "created_at": row["created_at"].isoformat(),
    }
