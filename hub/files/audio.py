"""Audio: what the container really holds (audio only, a codec we can play back) and how long
it lasts, read with PyAV (FFmpeg's demuxers) without decoding the whole file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from hub.files import types
from hub.files.refusals import FileRefusedError

# Container name (FFmpeg's) -> codecs a voice message may use.
_CODECS = {
    types.MP3: {"mp3", "mp3float"},
    types.WAV: {"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_mulaw",
                "pcm_alaw"},
    types.M4A: {"aac", "alac"},
    types.AAC: {"aac"},
    types.OGG: {"opus", "vorbis"},
    types.WEBM: {"opus", "vorbis"},
}  # fmt: skip


@dataclass(frozen=True)
class AudioFacts:
    type: types.FileType
    codec: str
    duration_s: float


def check_audio(path: Path, expected: types.FileType) -> AudioFacts:
    """Refuse video, unknown codecs and undecodable files; measure the duration."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if container.streams.video and expected in (types.M4A, types.WEBM):
                raise FileRefusedError("Video files are not allowed; send audio only")
            streams = container.streams.audio
            if not streams:
                raise FileRefusedError("The file holds no audio")
            stream = streams[0]
            codec = stream.codec_context.name
            if codec not in _CODECS[expected]:
                raise FileRefusedError(
                    f"Audio coded as {codec} is not allowed in {expected.extension}"
                )
            duration = _duration(container, stream)
            # Decode a first frame: a header alone is not audio.
            for _ in container.decode(stream):
                break
            else:
                raise FileRefusedError("The audio holds no sound that can be decoded")
    except FileRefusedError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise FileRefusedError(f"The audio cannot be read: {exc}") from None
    return AudioFacts(expected, codec, duration)


def _duration(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    # Streams without a duration in their headers (WebM from MediaRecorder): walk the packets.
    last = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            last = max(last, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0)
    return last
