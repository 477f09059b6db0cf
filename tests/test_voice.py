"""Voice messages through the real faster-whisper pipeline: espeak-ng speech, decoded and
transcribed by a tiny CTranslate2 Whisper model built here (random weights: the words are
meaningless, the pipeline and its shapes are real). Transcript quality is checked only when
DREAMSEED_WHISPER_MODEL names a real model."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from arq.connections import RedisSettings

from hub.context import HubContext
from hub.files.transcription import ModelChoice, transcribe
from tests import file_samples as samples
from tests.burst import run_burst
from tests.fcm_standin import FcmStandIn
from tests.files_support import run_worker, uploaded
from tests.programs import require_program
from tests.sockets import Client
from tests.support import Factory, User, history
from tests.whisper_tiny import build

Connect = Callable[[User], Awaitable[Client]]
REAL_MODEL_ENV = "DREAMSEED_WHISPER_MODEL"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per test session (~30 MB, a few seconds)."""
    return build(tmp_path_factory.mktemp("whisper-tiny"))


def _speak(folder: Path, text: str, voice: str) -> Path:
    espeak = require_program("espeak-ng", "espeak-ng")
    path = folder / f"{voice}.wav"
    subprocess.run([espeak, "-v", voice, "-w", str(path), text], check=True)  # noqa: S603
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech")
    return {
        "en": _speak(folder, "Hello class. The homework is on page twelve.", "en"),
        "ko": _speak(folder, "안녕하세요 선생님. 숙제는 십이 쪽에 있어요.", "ko"),
    }


def _pcm16k(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = [
            r.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for r in resampler.resample(frame)
        ]
    return np.concatenate(chunks)


def test_transcribe_runs_the_whole_pipeline_on_real_speech(
    tiny_model: Path, speech: dict[str, Path]
) -> None:
    """transcribe(path) decodes the audio, detects Korean or English and returns timed
    segments whose text makes the transcript."""
    result = transcribe(speech["en"], ModelChoice(str(tiny_model), "cpu", 1))
    assert result.language in ("ko", "en")
    assert 0 < result.language_probability <= 1
    assert result.duration_s == pytest.approx(len(_pcm16k(speech["en"])) / 16000, abs=0.05)
    assert result.segments and result.text
    assert all(0 <= s.start <= s.end for s in result.segments)
    assert result.text == " ".join(s.text for s in result.segments if s.text)
    payload = result.to_json()
    assert set(payload) == {"language", "language_probability", "text", "segments", "duration_s"}


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def voice_settings(hub_ctx: HubContext, tiny_model: Path) -> Iterator[Callable[..., None]]:
    original = hub_ctx.settings

    def use(**changes: Any) -> None:
        hub_ctx.settings = original.model_copy(
            update={"whisper_model": str(tiny_model), "whisper_device": "cpu", **changes}
        )

    use()
    yield use
    hub_ctx.settings = original


async def test_a_voice_message_gets_its_transcript_pushed_stored_and_searchable(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    connect: Connect,
    speech: dict[str, Path],
    worker_ctx: dict[str, Any],
    voice_settings: Callable[..., None],
) -> None:
    """A parent records a WebM/Opus voice message (what MediaRecorder makes); after the worker
    checks and transcribes it, the conversation gets message.transcript, history carries the
    transcript and search finds the message by a word of it."""
    org = await factory.org()
    parent, teacher = await factory.user("parent", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [parent, teacher])
    recording = samples.audio("webm", samples=_pcm16k(speech["ko"]))
    voice = await uploaded(api, parent, recording, "recording.webm")
    assert voice["type"] == "audio/webm" and voice["duration_s"] > 1
    p, t = await connect(parent), await connect(teacher)
    ack = await p.call(
        "message.send",
        {
            "conversation_id": str(conv),
            "client_msg_id": uuid.uuid4().hex,
            "message_type": "voice",
            "attachment_ids": [voice["id"]],
        },
    )
    assert "seq" in ack, ack
    new = await t.next("message.new")
    assert new["attachments"][0]["state"] == "pending"
    assert new["attachments"][0]["duration_s"] == voice["duration_s"]
    await run_worker(hub_ctx, worker_ctx)
    pushed = await t.next("message.transcript", timeout=30)
    assert pushed["message_id"] == ack["id"] and pushed["file_id"] == voice["id"]
    transcript = pushed["transcript"]
    assert transcript["language"] in ("ko", "en") and transcript["segments"]
    assert all({"start", "end", "text"} <= set(s) for s in transcript["segments"])
    page = await history(api, teacher, str(conv))
    assert page["items"][-1]["attachments"][0]["transcript"]["text"] == transcript["text"]
    word = transcript["text"].split()[0]
    found = await api.get("/search", params={"q": word}, headers=teacher.headers)
    assert found.status_code == 200, found.text
    assert [h["message"]["id"] for h in found.json()["items"]] == [ack["id"]]


async def test_a_voice_message_longer_than_allowed_is_refused(
    api: httpx.AsyncClient,
    factory: Factory,
    connect: Connect,
    voice_settings: Callable[..., None],
) -> None:
    """Voice messages have a length limit (VOICE_MAX_S, 5 minutes by default)."""
    voice_settings(voice_max_s=1)
    org = await factory.org()
    parent, teacher = await factory.user("parent", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [parent, teacher])
    voice = await uploaded(api, parent, samples.audio("ogg", seconds=3), "long.ogg")
    p = await connect(parent)
    refused = await p.call(
        "message.send",
        {
            "conversation_id": str(conv),
            "client_msg_id": uuid.uuid4().hex,
            "message_type": "voice",
            "attachment_ids": [voice["id"]],
        },
    )
    assert "at most 1 s" in refused["error"]["message"]


async def test_a_model_that_cannot_be_loaded_leaves_no_transcript_and_is_not_retried(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    worker_ctx: dict[str, Any],
    voice_settings: Callable[..., None],
    tmp_path: Path,
) -> None:
    """A wrong WHISPER_MODEL is a setting to fix: the job ends at once (no backoff retries),
    the file is clean and served, its transcript stays empty."""
    voice_settings(whisper_model=str(tmp_path / "no-such-model"))
    org = await factory.org()
    parent = await factory.user("parent", org)
    voice = await uploaded(api, parent, samples.audio("ogg", seconds=1), "v.ogg")
    worker = await run_burst(
        RedisSettings.from_dsn(hub_ctx.settings.redis_dsn), hub_ctx.keys.job_queue, worker_ctx
    )
    assert (worker.jobs_complete, worker.jobs_retried, worker.jobs_failed) == (2, 0, 0)
    row = await factory.fetch(
        "SELECT state, transcript FROM files WHERE id = $1::uuid", voice["id"]
    )
    assert (row[0]["state"], row[0]["transcript"]) == ("clean", None)


@pytest.mark.skipif(not os.environ.get(REAL_MODEL_ENV), reason=f"{REAL_MODEL_ENV} is not set")
def test_a_real_model_hears_korean_and_english(speech: dict[str, Path]) -> None:
    """With a real model (a converted faster-whisper model folder or a cached size name):
    languages are told apart and the words come through."""
    choice = ModelChoice(os.environ[REAL_MODEL_ENV], "auto", 0)
    english = transcribe(speech["en"], choice)
    assert english.language == "en" and "homework" in english.text.lower()
    korean = transcribe(speech["ko"], choice)
    assert korean.language == "ko" and "숙제" in korean.text
