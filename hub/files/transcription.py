"""Speech to text with faster-whisper: `transcribe(path) -> Transcript`, for voice messages
and the AI tutor's spoken questions.

The model (a size name such as "small", or the path of a converted CTranslate2 model) loads
once per process and runs on one worker thread (CTranslate2 releases the GIL), never on the
event loop: call `transcribe_async`. int8 on a CPU, float16 on a GPU. The language is
detected, limited to Korean and English (a school's voice messages are one or the other).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = ("ko", "en")
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
_models: dict[tuple[str, str, int], Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    language: str
    language_probability: float
    text: str
    segments: tuple[Segment, ...]
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "language_probability": round(self.language_probability, 4),
            "text": self.text,
            "segments": [
                {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text}
                for s in self.segments
            ],
            "duration_s": round(self.duration_s, 2),
        }


@dataclass(frozen=True)
class ModelChoice:
    model: str = "small"
    device: str = "auto"
    threads: int = 0


def _device(wanted: str) -> str:
    if wanted != "auto":
        return wanted
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class ModelUnavailableError(Exception):
    """The configured model cannot be loaded (a wrong path, a size name with no network)."""


def load_model(choice: ModelChoice) -> Any:
    """The process's model for `choice`, loaded on first use (never downloaded when a path)."""
    device = _device(choice.device)
    key = (choice.model, device, choice.threads)
    with _lock:
        if key not in _models:
            from faster_whisper import WhisperModel

            try:
                _models[key] = WhisperModel(
                    choice.model,
                    device=device,
                    compute_type="float16" if device == "cuda" else "int8",
                    cpu_threads=choice.threads,
                    local_files_only=Path(choice.model).is_dir(),
                )
            except Exception as exc:  # faster-whisper, huggingface_hub and CTranslate2 errors
                raise ModelUnavailableError(
                    f"Whisper model {choice.model!r} cannot be loaded: {exc}"
                ) from exc
        return _models[key]


def transcribe(path: Path | str, choice: ModelChoice | None = None) -> Transcript:
    """Transcribe an audio file (any format FFmpeg reads). Blocking: CPU- or GPU-bound."""
    from faster_whisper.audio import decode_audio

    model = load_model(choice or ModelChoice())
    audio = decode_audio(str(path), sampling_rate=16000)
    language, probability = _language(model, audio)
    segments, info = model.transcribe(
        audio,
        language=language,
        beam_size=5,
        condition_on_previous_text=False,
        vad_filter=False,
    )
    found = tuple(Segment(s.start, s.end, s.text.strip()) for s in segments)
    return Transcript(
        language=language,
        language_probability=probability,
        text=" ".join(s.text for s in found if s.text).strip(),
        segments=found,
        duration_s=float(info.duration),
    )


def _language(model: Any, audio: Any) -> tuple[str, float]:
    """Korean or English, whichever the model finds likelier."""
    if not model.model.is_multilingual:
        return "en", 1.0
    _, _, probabilities = model.detect_language(audio=audio)
    allowed = {lang: p for lang, p in probabilities if lang in LANGUAGES}
    best = max(LANGUAGES, key=lambda lang: allowed.get(lang, 0.0))
    total = sum(allowed.values()) or 1.0
    return best, allowed.get(best, 0.0) / total


async def transcribe_async(path: Path | str, choice: ModelChoice | None = None) -> Transcript:
    """`transcribe` on the model's own thread, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, transcribe, path, choice)
