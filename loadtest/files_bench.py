"""Attachment benchmarks: upload time with the built-in checks, hub memory under concurrent
uploads, worker time for a 12-megapixel photo, and the transcription real-time factor.

Scenarios:

* ``upload``    - one 10 MB upload (a distinct noise PNG each time) over loopback, repeated:
                  streaming, hashing, sniffing, PNG verification, polyglot scan, storage.
* ``rss``       - 20 concurrent 10 MB uploads; the hub process's RSS before and after (it must
                  grow by far less than the 200 MB sent: the body is streamed, not buffered).
* ``thumbnail`` - in this process: the worker's image step (orientation, EXIF strip, 320 px
                  WebP thumbnail) on a 12-megapixel JPEG, repeated; median and worst.
* ``transcribe`` - in this process: `transcribe(path)` on speech made by espeak-ng, with the
                  model named by --model (default: the tiny random test model, built here);
                  the real-time factor is processing time / audio duration.

Run against a hub on this machine (the uploads are made as the demo users of `dreamseed up`):

    PORT=8765 DATA_DIR=/tmp/bench-data .venv/bin/dreamseed up            # shell 1
    .venv/bin/python loadtest/files_bench.py --base-url http://127.0.0.1:8765   # shell 2

`--scenario thumbnail` and `--scenario transcribe` need no hub. On a GPU box, measure the
seed's target (a 30-second clip in < 1.5 s) with a real model:

    .venv/bin/python loadtest/files_bench.py --scenario transcribe --model large-v3 \
        --device cuda --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import psutil
from PIL import Image

API = "/api/v1"
DEMO_PASSWORD = "dreamseed-demo"
DEMO_USERS = [
    "teacher@demo.dreamseed.kr",
    "student1@demo.dreamseed.kr",
    "student2@demo.dreamseed.kr",
    "student3@demo.dreamseed.kr",
    "parent@demo.dreamseed.kr",
    "admin@demo.dreamseed.kr",
]
TEN_MB = 10_000_000


def noise_png(seed: int, target: int = TEN_MB - 400_000) -> bytes:
    """A PNG of random pixels just under 10 MB (noise does not compress)."""
    side = int((target / 3) ** 0.5)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=0)
    return out.getvalue()


async def _tokens(client: httpx.AsyncClient) -> list[str]:
    tokens = []
    for email in DEMO_USERS:
        r = await client.post(f"{API}/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        if r.status_code != 200:
            raise SystemExit(f"login {email}: {r.status_code} {r.text[:200]} (is the demo seeded?)")
        tokens.append(r.json()["access_token"])
    return tokens


async def _upload(client: httpx.AsyncClient, token: str, data: bytes, name: str) -> float:
    started = time.perf_counter()
    r = await client.post(
        f"{API}/files",
        files={"file": (name, data, "image/png")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    if r.status_code != 201:
        raise SystemExit(f"upload failed: {r.status_code} {r.text[:300]}")
    return elapsed


async def bench_upload(base: str, repeat: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        tokens = await _tokens(client)
        times = []
        for i in range(repeat):
            data = noise_png(1000 + i)
            times.append(await _upload(client, tokens[i % len(tokens)], data, f"u{i}.png"))
    return {
        "scenario": "upload",
        "bytes": len(data),
        "runs": repeat,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
    }


def _hub_process(base: str, pid: int | None) -> psutil.Process:
    if pid:
        return psutil.Process(pid)
    port = urlsplit(base).port
    for conn in psutil.net_connections("tcp"):
        if conn.status == "LISTEN" and getattr(conn.laddr, "port", None) == port and conn.pid:
            return psutil.Process(conn.pid)
    raise SystemExit(f"no process listens on port {port}; pass --hub-pid")


async def bench_rss(base: str, pid: int | None, concurrency: int) -> dict[str, Any]:
    hub = _hub_process(base, pid)
    bodies = [noise_png(5000 + i) for i in range(concurrency)]
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=64)) as client:
        tokens = await _tokens(client)
        await _upload(client, tokens[0], noise_png(4999), "warm.png")  # imports, pools
        before = hub.memory_info().rss
        peak = before
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, hub.memory_info().rss)
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        times = await asyncio.gather(
            *(
                _upload(client, tokens[i % len(tokens)], b, f"c{i}.png")
                for i, b in enumerate(bodies)
            )
        )
        wall = time.perf_counter() - started
        done.set()
        await sampler
        after = hub.memory_info().rss
    return {
        "scenario": "rss",
        "uploads": concurrency,
        "sent_mb": round(sum(len(b) for b in bodies) / 1e6, 1),
        "rss_before_mb": round(before / 1e6, 1),
        "rss_peak_growth_mb": round((peak - before) / 1e6, 1),
        "rss_after_growth_mb": round((after - before) / 1e6, 1),
        "wall_s": round(wall, 2),
        "slowest_upload_s": round(max(times), 2),
    }


def bench_thumbnail(repeat: int) -> dict[str, Any]:
    from hub.files.images import clean_image

    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
    photo = Image.fromarray(small).resize((4000, 3000))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, as phones do
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        photo.save(path, format="JPEG", quality=88, exif=exif.tobytes())
        times = []
        for _ in range(repeat):
            started = time.process_time()
            clean_image(path, 40_000_000)
            times.append(time.process_time() - started)
    return {
        "scenario": "thumbnail",
        "pixels": "4000x3000 JPEG, EXIF orientation 6",
        "runs": repeat,
        "median_cpu_ms": round(statistics.median(times) * 1000),
        "max_cpu_ms": round(max(times) * 1000),
    }


def bench_transcribe(model: str | None, device: str, seconds: float, repeat: int) -> dict[str, Any]:
    from hub.files.transcription import ModelChoice, transcribe

    with tempfile.TemporaryDirectory() as folder:
        if model is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.whisper_tiny import build

            (Path(folder) / "tiny").mkdir()
            model = str(build(Path(folder) / "tiny"))
            label = "tiny random test model (1+1 layers, d=64)"
        else:
            label = model
        text = "The homework for tomorrow is on page twelve. Please bring your notebook. " * 8
        wav = Path(folder) / "speech.wav"
        speak = ["espeak-ng", "-v", "en", "-w", str(wav), text]
        subprocess.run(speak, check=True)  # noqa: S603 - a fixed program, our own text
        clip = Path(folder) / "clip.wav"
        cut = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-t", str(seconds), str(clip)]
        subprocess.run(cut, check=True)  # noqa: S603
        choice = ModelChoice(model, device, 0)
        transcribe(clip, choice)  # load the model once, as a worker does
        times, duration = [], 0.0
        for _ in range(repeat):
            started = time.perf_counter()
            result = transcribe(clip, choice)
            times.append(time.perf_counter() - started)
            duration = result.duration_s
    best = statistics.median(times)
    return {
        "scenario": "transcribe",
        "model": label,
        "device": device,
        "audio_s": round(duration, 2),
        "median_s": round(best, 3),
        "real_time_factor": round(best / duration, 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8765")
    parser.add_argument(
        "--scenario", choices=["upload", "rss", "thumbnail", "transcribe", "all"], default="all"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--hub-pid", type=int)
    parser.add_argument("--model", help="faster-whisper model: size name or folder")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    host = urlsplit(args.base_url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("files_bench only targets a hub on this machine")
    results = []
    if args.scenario in ("upload", "all"):
        results.append(await bench_upload(args.base_url, args.repeat))
    if args.scenario in ("rss", "all"):
        results.append(await bench_rss(args.base_url, args.hub_pid, args.concurrency))
    if args.scenario in ("thumbnail", "all"):
        results.append(bench_thumbnail(args.repeat))
    if args.scenario in ("transcribe", "all"):
        results.append(bench_transcribe(args.model, args.device, args.seconds, args.repeat))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
