"""Voice messages: the transcript of an audio file is stored with it, made searchable in the
messages that carry it, and pushed to their conversations as `message.transcript`."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from uuid import UUID

from hub import metrics
from hub.chat import search
from hub.context import HubContext
from hub.files import transcription

logger = logging.getLogger("dreamseed.files")


def model_choice(ctx: HubContext) -> transcription.ModelChoice:
    s = ctx.settings
    return transcription.ModelChoice(s.whisper_model, s.whisper_device, s.whisper_threads)


async def transcribe_file(ctx: HubContext, file_id: UUID) -> str | None:
    """Transcribe a clean audio file once; its transcript's language, or None."""
    async with ctx.db.system() as conn:
        row = await conn.fetchrow(
            """SELECT storage_key FROM files WHERE id = $1 AND kind = 'audio'
               AND state = 'clean' AND transcript IS NULL AND deleted_at IS NULL""",
            file_id,
        )
    if row is None or not ctx.settings.whisper_model:
        return None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dreamseed-voice-") as folder:
        path = Path(folder) / "audio"
        await ctx.storage.fetch_to(row["storage_key"], path)
        try:
            result = await transcription.transcribe_async(path, model_choice(ctx))
        except transcription.ModelUnavailableError:
            # A setting to fix, not a moment to wait out: no retries; the message stays
            # without a transcript.
            metrics.FILES.labels("untranscribed", "model_unavailable").inc()
            logger.exception("voice file %s not transcribed", file_id)
            return None
    metrics.FILE_PROCESSING.labels("transcribe").observe(time.perf_counter() - started)
    payload = result.to_json()
    async with ctx.db.system() as conn:
        await conn.execute(
            "UPDATE files SET transcript = $2 WHERE storage_key = $1 AND transcript IS NULL",
            row["storage_key"],
            payload,
        )
        messages = await conn.fetch(
            """SELECT m.id, m.conversation_id, m.seq, m.content FROM message_files mf
               JOIN messages m ON m.id = mf.message_id JOIN files f ON f.id = mf.file_id
               WHERE f.storage_key = $1 AND m.deleted_at IS NULL""",
            row["storage_key"],
        )
        for m in messages:
            await conn.execute(
                "UPDATE messages SET search_tokens = array_to_tsvector($2::text[]) WHERE id = $1",
                m["id"],
                search.tokens(f"{m['content']}\n{result.text}"),
            )
    for m in messages:
        await ctx.bus.to_conversation(
            m["conversation_id"],
            "message.transcript",
            {
                "message_id": str(m["id"]),
                "conversation_id": str(m["conversation_id"]),
                "seq": m["seq"],
                "file_id": str(file_id),
                "transcript": json.loads(json.dumps(payload)),
            },
        )
    return result.language
