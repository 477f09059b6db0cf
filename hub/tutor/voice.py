"""Spoken questions: the seam where transcription (the attachments work) plugs in.

A `TranscriptSource` turns a stored voice recording into text. Once one exists (faster-whisper
in the worker), `ask_spoken` asks its transcript as any typed question: same checks, same
answer stream. Until then no source is wired, and nothing here pretends to transcribe.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode
from hub.tutor.questions import Asked, ask
from schema.models.tutor import MAX_QUESTION_CHARS, AskTutor


class TranscriptSource(Protocol):
    async def transcript(self, ctx: HubContext, actor: Actor, recording_id: UUID) -> str:
        """The text spoken in the recording (which the actor may read), in its language."""


async def ask_spoken(
    ctx: HubContext,
    actor: Actor,
    source: TranscriptSource,
    recording_id: UUID,
    client_msg_id: str,
    org_id: UUID | None = None,
) -> Asked:
    """Transcribe a recorded question, then ask it."""
    text = (await source.transcript(ctx, actor, recording_id)).strip()
    if not text:
        raise DomainError(ErrorCode.VALIDATION, "Nothing could be heard in the recording")
    body = AskTutor(client_msg_id=client_msg_id, question=text[:MAX_QUESTION_CHARS], org_id=org_id)
    return await ask(ctx, actor, body)
