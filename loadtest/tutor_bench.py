"""Benchmarks the AI tutor's path from the model server to the student's socket.

Starts, on this machine: a fresh database (migrated, students seeded in bulk by ``seed.py``),
the vLLM stand-in (``tests/model_standin.py``, tokens at a fixed rate, each write time
recorded), one hub process and one tutor worker; then drives students with the lean
Socket.IO client and reports:

* ``latency``: answers one at a time (unloaded); for every token, from the stand-in writing it
  to the student's socket receiving it (p50/p99).
* ``load``: ``--answers`` concurrent answers of ``--tokens`` tokens at ``--rate`` tokens/s each;
  the same latency, tokens lost or duplicated (each device's text against the stand-in's),
  and the CPU of the hub and of the tutor worker over the window (1.0 = one core).
* ``cancel``: from the student's ``tutor.cancel`` to the stand-in seeing its connection close.
* ``reconnect``: a device drops mid-answer and reconnects: from its socket being back to
  holding the full text so far (the ``tutor.resume`` ack).

The hold-back window of the output filter and frame coalescing delay tokens on purpose:
``--holdback 0 --frame-ms 1`` measures the relay itself, the defaults (48 characters, 40 ms)
what a student sees.

    cd loadtest && ../.venv/bin/python tutor_bench.py \\
        --owner-dsn postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis-url redis://127.0.0.1:6379/0 --scenario all --answers 100 --tokens 80
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from lean_client import LeanSocket
from seed import Seeder, create_database, drop_database, require_local

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub.tokens import TokenIssuer  # noqa: E402
from tests.model_standin import answer_tokens  # noqa: E402

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# perf_counter (the lean client's clock) to wall time (the stand-in's), read once.
WALL_OFFSET = time.time() - time.perf_counter()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2) if seconds else float("nan"),
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Device:
    """One device's view of one answer: text by offset, arrival time of every character."""

    answer_id: str = ""
    text: str = ""
    arrivals: list[float] = field(default_factory=list)
    attempt: int = 1
    duplicates: int = 0
    ahead: list[tuple[int, str, float]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = ""

    def on_event(self, event: str, data: Any, now: float) -> None:
        if not isinstance(data, dict) or data.get("answer_id") != self.answer_id:
            return
        if event == "tutor.delta":
            self.apply(data["offset"], data["text"], now + WALL_OFFSET)
        elif event == "tutor.done":
            self.status = data["status"]
            self.done.set()

    def apply(self, offset: int, text: str, at: float) -> None:
        """Deltas in offset order: one ahead of the text waits (a resume reply fills the gap)."""
        if offset > len(self.text):
            self.ahead.append((offset, text, at))
            return
        new = text[len(self.text) - offset :]
        if not new:
            self.duplicates += 1
            return
        self.text += new
        self.arrivals += [at] * len(new)
        self.first.set()
        waiting, self.ahead = sorted(self.ahead), []
        for item in waiting:
            self.apply(*item)

    @property
    def gaps(self) -> int:
        """Deltas still waiting for text before them: a real gap once the answer is done."""
        return len(self.ahead)


def _get(url: str, timeout: float = 1) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        body: bytes = response.read()
    return body


class Services:
    """The stand-in, one hub and one tutor worker, as subprocesses."""

    def __init__(self, args: argparse.Namespace, dsn: str, secret: str, namespace: str) -> None:
        self.args = args
        self.log_dir = Path(tempfile.mkdtemp(prefix="tutor-bench-"))
        self.standin_port, self.hub_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "REDIS_URL": args.redis_url,
            "JWT_SECRET": secret,
            "REDIS_NAMESPACE": namespace,
            "TUTOR_URL": f"http://{HOST}:{self.standin_port}/v1",
            "TUTOR_QUESTIONS_PER_MINUTE": "60000",
            "TUTOR_MAX_IN_FLIGHT": "100",
            "TUTOR_SERVER_CONCURRENCY": str(max(1000, args.answers)),
            "TUTOR_HOLDBACK_CHARS": str(args.holdback),
            "TUTOR_FRAME_MS": str(args.frame_ms),
            "TUTOR_MAX_TOKENS": "4096",
            "DB_POOL_MAX": "20",
            "LOG_LEVEL": "warning",
            "PYTHONPATH": str(REPO),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, cmd: list[str]) -> None:
        with (self.log_dir / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(  # noqa: S603 - our interpreter, fixed args
                cmd,
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self) -> None:
        py = sys.executable
        self.spawn(
            "standin",
            [
                py,
                "-m",
                "tests.model_standin",
                "--port",
                str(self.standin_port),
                "--interval",
                str(1 / self.args.rate),
            ],
        )
        self.spawn(
            "hub",
            [
                py,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(self.hub_port),
                "--loop",
                "uvloop",
                "--no-access-log",
            ],
        )
        profile = (
            ["-m", "cProfile", "-o", self.args.profile_worker] if self.args.profile_worker else []
        )
        self.spawn("worker", [py, *profile, "-m", "hub.cli", "tutor"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    log = (self.log_dir / f"{name}.log").read_text()[-2000:]
                    raise SystemExit(f"{name} exited:\n{log}")
            try:
                await asyncio.to_thread(_get, f"http://{HOST}:{self.hub_port}/readyz")
                await asyncio.to_thread(_get, f"http://{HOST}:{self.standin_port}/_served")
                await asyncio.sleep(2)  # the worker's start-up
                return
            except OSError:
                await asyncio.sleep(0.2)
        raise SystemExit("services not ready in 90 s")

    def served(self) -> dict[str, dict[str, Any]]:
        url = f"http://{HOST}:{self.standin_port}/_served"
        with urllib.request.urlopen(url, timeout=30) as response:
            rows = json.loads(response.read())
        return {
            r["question"].split("#id=")[1].split()[0]: r for r in rows if "#id=" in r["question"]
        }

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def open_device(services: Services, token: str, device: Device) -> LeanSocket:
    return await LeanSocket.open(HOST, services.hub_port, token, on_event=device.on_event)


async def ask(
    sock: LeanSocket, device: Device, tag: str, tokens: int, extra: str = "", delay_s: float = 0
) -> None:
    await asyncio.sleep(delay_s)
    ack = await sock.call(
        "tutor.ask",
        {"client_msg_id": f"b-{tag}", "question": f"근의 공식 #id={tag} #tokens={tokens} {extra}"},
        wait_s=120,
    )
    if "error" in ack:
        raise SystemExit(f"ask refused: {ack['error']}")
    device.answer_id = ack["answer_id"]


def token_latencies(device: Device, token_times: list[float], count: int) -> list[float]:
    """Per token: its last character's arrival minus the stand-in's write."""
    out, end = [], 0
    for index, token in enumerate(answer_tokens(count)):
        end += len(token)
        if end <= len(device.arrivals) and index < len(token_times):
            out.append(device.arrivals[end - 1] - token_times[index])
    return out


async def run_answers(
    services: Services, tokens: list[str], count: int, label: str, ramp_s: float = 0
) -> dict[str, Any]:
    """Every student asks (spread over `ramp_s`), all answers stream at once."""
    devices = [Device() for _ in tokens]
    socks = await asyncio.gather(
        *(open_device(services, t, d) for t, d in zip(tokens, devices, strict=True))
    )
    pids = {name: proc.pid for name, proc in services.procs.items()}
    cpu0, own0, t0 = {n: cpu_s(p) for n, p in pids.items()}, _own_cpu(), time.monotonic()
    tags = [f"{label}{i}-{secrets.token_hex(3)}" for i in range(len(tokens))]
    await asyncio.gather(
        *(
            ask(s, d, tag, count, delay_s=ramp_s * i / len(tokens))
            for i, (s, d, tag) in enumerate(zip(socks, devices, tags, strict=True))
        )
    )
    streaming = sum(not d.done.is_set() for d in devices)
    await asyncio.wait_for(asyncio.gather(*(d.done.wait() for d in devices)), 600)
    wall = time.monotonic() - t0
    cpu = {f"{n}_cpu_cores": round((cpu_s(p) - cpu0[n]) / wall, 2) for n, p in pids.items()}
    cpu["bench_client_cpu_cores"] = round((_own_cpu() - own0) / wall, 2)
    served = services.served()
    expected = "".join(answer_tokens(count))
    latencies: list[float] = []
    wrong = 0
    for device, tag in zip(devices, tags, strict=True):
        wrong += device.text != expected or device.status != "done"
        latencies += token_latencies(device, served[tag]["token_times"], count)
    for sock in socks:
        sock.close()
    stages = await _stages(services, devices, tags, served, count)
    return {
        "stages_ms_p50_p99": stages,
        "answers": len(tokens),
        "streaming_when_the_last_was_asked": streaming,
        "tokens_each": count,
        "wall_s": round(wall, 2),
        "latency": summary(latencies),
        "wrong_or_incomplete": wrong,
        "gaps": sum(d.gaps for d in devices),
        "duplicates_dropped": sum(d.duplicates for d in devices),
        **cpu,
    }


async def _stages(
    services: Services,
    devices: list[Device],
    tags: list[str],
    served: dict[str, dict[str, Any]],
    count: int,
) -> dict[str, list[float]]:
    """Where the time goes, per delta frame: stand-in write -> worker's write to the answer's
    Redis stream (the entry id is its time) -> the device receiving it."""
    from redis.asyncio import Redis

    redis = Redis.from_url(services.args.redis_url)
    to_stream, to_device = [], []
    try:
        for device, tag in list(zip(devices, tags, strict=True))[:20]:
            key = f"{services.env['REDIS_NAMESPACE']}:tutor-stream:{device.answer_id}"
            ends: list[int] = []
            end = 0
            for piece in answer_tokens(count):
                end += len(piece)
                ends.append(end)
            times = served[tag]["token_times"]
            for entry_id, fields in await redis.xrange(key):
                frame = json.loads(fields[b"f"])
                if frame["kind"] != "delta":
                    continue
                last = frame["offset"] + len(frame["text"])
                index = next(i for i, e in enumerate(ends) if e >= last)
                written = int(entry_id.split(b"-")[0]) / 1000
                to_stream.append(written - times[index])
                to_device.append(device.arrivals[last - 1] - written)
    finally:
        await redis.aclose()
    return {
        "standin_to_stream": [round(percentile(to_stream, q) * 1000, 1) for q in (50, 99)],
        "stream_to_device": [round(percentile(to_device, q) * 1000, 1) for q in (50, 99)],
    }


async def run_latency(services: Services, tokens: list[str], count: int) -> dict[str, Any]:
    results = [await run_answers(services, [t], count, "lat") for t in tokens]
    return {
        "answers": len(results),
        "latency_p50_ms_median": statistics.median(r["latency"]["p50_ms"] for r in results),
        "latency_p99_ms_max": max(r["latency"]["p99_ms"] for r in results),
        "wrong_or_incomplete": sum(r["wrong_or_incomplete"] for r in results),
    }


async def run_cancel(services: Services, tokens: list[str]) -> dict[str, Any]:
    times = []
    for token in tokens:
        device = Device()
        sock = await open_device(services, token, device)
        tag = f"c-{secrets.token_hex(4)}"
        await ask(sock, device, tag, 2000)
        await asyncio.wait_for(device.first.wait(), 30)
        pressed = time.time()
        await sock.call("tutor.cancel", {"answer_id": device.answer_id})
        await asyncio.wait_for(device.done.wait(), 30)
        row = services.served()[tag]
        if row["disconnected_at"] is None:
            raise SystemExit("the stand-in never saw the cancelled request close")
        times.append(row["disconnected_at"] - pressed)
        sock.close()
    return {"cancel_to_upstream_close": summary(times)}


async def run_reconnect(services: Services, tokens: list[str], count: int) -> dict[str, Any]:
    times, wrong = [], 0
    for token in tokens:
        device = Device()
        sock = await open_device(services, token, device)
        await ask(sock, device, f"r-{secrets.token_hex(4)}", count)
        await asyncio.wait_for(device.first.wait(), 30)
        await asyncio.sleep(0.5)
        sock.close()
        again = Device(answer_id=device.answer_id, text=device.text, arrivals=device.arrivals)
        sock = await open_device(services, token, again)
        back = time.perf_counter()
        ack = await sock.call(
            "tutor.resume", {"answer_id": device.answer_id, "offset": len(again.text)}
        )
        times.append(time.perf_counter() - back)
        again.apply(ack["offset"], ack["text"], time.time())
        if ack["done"]:
            again.status = ack["done"]["status"]
            again.done.set()
        await asyncio.wait_for(again.done.wait(), 60)
        wrong += again.text != "".join(answer_tokens(count)) or again.gaps > 0
        sock.close()
    return {"reconnect_to_full_text": summary(times), "wrong_or_incomplete": wrong}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    require_local(args.owner_dsn)
    name = f"ds_tutorbench_{secrets.token_hex(3)}"
    dsn = await create_database(args.owner_dsn, name)
    secret, namespace = secrets.token_urlsafe(40), f"tb-{secrets.token_hex(3)}"
    conn = await asyncpg.connect(dsn)
    try:
        seeder = await Seeder.start(conn, TokenIssuer(secret, 3600))
        students = await seeder.users(args.answers + 3 * args.samples)
    finally:
        await conn.close()
    tokens = [s.token for s in students]
    services = Services(args, dsn, secret, namespace)
    results: dict[str, Any] = {
        "holdback_chars": args.holdback,
        "frame_ms": args.frame_ms,
        "rate_tokens_per_s": args.rate,
    }
    try:
        await services.start()
        scenarios = ("latency", "load", "cancel", "reconnect")
        chosen = scenarios if args.scenario == "all" else (args.scenario,)
        spare = tokens[args.answers :]
        if "latency" in chosen:
            results["latency"] = await run_latency(services, spare[: args.samples], args.tokens)
        if "load" in chosen:
            results["load"] = await run_answers(
                services, tokens[: args.answers], args.load_tokens, "load", args.ramp_s
            )
        if "cancel" in chosen:
            results["cancel"] = await run_cancel(services, spare[args.samples : 2 * args.samples])
        if "reconnect" in chosen:
            results["reconnect"] = await run_reconnect(
                services, spare[2 * args.samples :], args.tokens
            )
    finally:
        services.stop()
        with contextlib.suppress(Exception):
            await drop_database(args.owner_dsn, name)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--owner-dsn", required=True, help="PostgreSQL admin URL (loopback)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--scenario", choices=("latency", "load", "cancel", "reconnect", "all"), default="all"
    )
    parser.add_argument("--answers", type=int, default=500, help="concurrent answers (load)")
    parser.add_argument("--tokens", type=int, default=80, help="tokens per answer")
    parser.add_argument("--load-tokens", type=int, default=400, help="tokens per answer (load)")
    parser.add_argument("--ramp-s", type=float, default=5, help="asks spread over (load)")
    parser.add_argument("--rate", type=float, default=40, help="tokens/s of each answer")
    parser.add_argument("--samples", type=int, default=10, help="latency/cancel/reconnect runs")
    parser.add_argument("--holdback", type=int, default=48, help="TUTOR_HOLDBACK_CHARS")
    parser.add_argument("--profile-worker", help="write the tutor worker's cProfile here")
    parser.add_argument("--frame-ms", type=int, default=40, help="TUTOR_FRAME_MS")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=1))
