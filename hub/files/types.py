"""The file types a school may share, and what each becomes on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"


class State(StrEnum):
    PENDING = "pending"
    CLEAN = "clean"
    INFECTED = "infected"
    REFUSED = "refused"


@dataclass(frozen=True)
class FileType:
    mime: str
    extension: str
    kind: Kind

    @property
    def inline(self) -> bool:
        """Shown in the page (images, audio players); documents are downloaded."""
        return self.kind is not Kind.DOCUMENT


PNG = FileType("image/png", "png", Kind.IMAGE)
JPEG = FileType("image/jpeg", "jpg", Kind.IMAGE)
WEBP = FileType("image/webp", "webp", Kind.IMAGE)
HEIC = FileType("image/heic", "heic", Kind.IMAGE)
PDF = FileType("application/pdf", "pdf", Kind.DOCUMENT)
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "docx",
    Kind.DOCUMENT,
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", Kind.DOCUMENT
)
PPTX = FileType(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pptx",
    Kind.DOCUMENT,
)
MP3 = FileType("audio/mpeg", "mp3", Kind.AUDIO)
WAV = FileType("audio/wav", "wav", Kind.AUDIO)
M4A = FileType("audio/mp4", "m4a", Kind.AUDIO)
AAC = FileType("audio/aac", "aac", Kind.AUDIO)
OGG = FileType("audio/ogg", "ogg", Kind.AUDIO)
WEBM = FileType("audio/webm", "webm", Kind.AUDIO)

ALL: tuple[FileType, ...] = (
    PNG, JPEG, WEBP, HEIC, PDF, DOCX, XLSX, PPTX, MP3, WAV, M4A, AAC, OGG, WEBM,
)  # fmt: skip
BY_MIME = {t.mime: t for t in ALL}
