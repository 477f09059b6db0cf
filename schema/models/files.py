"""Wire models of attachments: uploads, file records, signed URLs, transcripts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from schema.models.common import Request, Response


class UploadQuery(Request):
    # A raw body's name may hold anything, NUL included: hub/files/names.py makes it safe.
    nul_cleaned_downstream = True

    org_id: UUID | None = None
    # For a raw (non-multipart) body; a multipart part's own filename wins.
    name: Annotated[str, StringConstraints(max_length=1000)] | None = None


class FileOut(Response):
    id: UUID
    name: str
    type: str
    kind: Literal["image", "document", "audio"]
    size: int
    state: Literal["pending", "clean", "infected", "refused"]
    reason: str | None
    width: int | None
    height: int | None
    duration_s: float | None
    url: str
    thumbnail_url: str | None
    created_at: datetime


class SignedUrlQuery(Request):
    thumbnail: bool = False


class SignedUrlOut(Response):
    url: str
    expires_at: int = Field(description="Unix time after which the URL no longer works")


class SignedUrlsBody(Request):
    file_ids: list[UUID] = Field(min_length=1, max_length=100)
    thumbnail: bool = False


class SignedUrlItem(Response):
    id: UUID
    url: str | None
    expires_at: int | None
    error: str | None = Field(default=None, description="why no URL (not found, not ready ...)")


class SignedUrlList(Response):
    items: list[SignedUrlItem]


class SignedFetchQuery(Request):
    variant: Literal["file", "thumbnail"]
    expires: int
    sig: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Segment(Response):
    start: float
    end: float
    text: str


class TranscriptOut(Response):
    language: str
    text: str
    segments: list[Segment]


class AttachmentOut(FileOut):
    transcript: TranscriptOut | None = None


MAX_ATTACHMENTS = 10
AttachmentIds = Annotated[list[UUID], Field(max_length=MAX_ATTACHMENTS)]
