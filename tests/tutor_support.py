"""Test helpers of the AI tutor: the stand-in model server, a tutor worker running in the test's
event loop (the real arq worker, not in burst mode), and a device-side answer assembler that
applies the protocol (offsets, attempts, drops, resume) the way a client must."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker
from prometheus_client import REGISTRY

from hub.keys import RedisKeys
from hub.settings import Settings
from tests.sockets import Client
from workers.tutor_main import TutorWorkerSettings


def tutor_settings(settings: Settings, base_url: str, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "tutor_url": base_url,
            "tutor_frame_ms": 10,
            "tutor_token_gap_timeout_s": 2,
            "tutor_first_token_timeout_s": 5,
            "tutor_lease_s": 3,
            **extra,
        }
    )


@contextlib.asynccontextmanager
async def tutor_worker(settings: Settings) -> AsyncIterator[Worker]:
    """The product's tutor worker functions on the tutor queue, in this event loop."""
    worker = Worker(
        functions=TutorWorkerSettings.functions,
        on_startup=TutorWorkerSettings.on_startup,
        on_shutdown=TutorWorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(settings.redis_dsn),
        queue_name=RedisKeys(settings.redis_namespace).tutor_job_queue,
        ctx={"settings": settings},
        max_jobs=200,
        poll_delay=0.01,
        handle_signals=False,
        max_tries=TutorWorkerSettings.max_tries,
    )
    task = asyncio.create_task(worker.main())
    try:
        while "tutor" not in worker.ctx:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield worker
    finally:
        with warnings.catch_warnings():
            # arq 0.28 closes its pool with redis-py's deprecated close().
            warnings.simplefilter("ignore", DeprecationWarning)
            # arq stops only by cancellation: a poll cut off inside one of arq's own
            # pipelines leaves that pipeline holding its connection, and redis-py warns when
            # the pipeline is collected. That is arq's pool, closed just below, not a leak
            # of ours; collect it here, where the warning is expected.
            warnings.simplefilter("ignore", ResourceWarning)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # Jobs cut off by the stop end cancelled; arq's close() would re-raise that.
            for job in worker.tasks.values():
                job.cancel()
            await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
            worker.tasks.clear()
            await worker.close()
            gc.collect()


def question_id() -> str:
    return f"q-{secrets.token_hex(6)}"


def sample(name: str, **labels: str) -> float:
    """A Prometheus sample of this process (0 before the first observation)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def ask(client: Client, question: Any, **extra: Any) -> dict[str, Any]:
    """tutor.ask with a fresh client_msg_id; the ack."""
    ack: dict[str, Any] = await client.call(
        "tutor.ask", {"client_msg_id": question_id(), "question": question, **extra}
    )
    return ack


@dataclass
class Answer:
    """One answer as a device shows it."""

    answer_id: str
    text: str = ""
    attempt: int = 1
    done: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # every delta text this device received
    duplicates: int = 0
    drops: int = 0

    def delta(self, frame: dict[str, Any]) -> None:
        assert frame["answer_id"] == self.answer_id
        self.shown.append(frame["text"])
        if frame["attempt"] < self.attempt:
            return
        assert frame["attempt"] == self.attempt, f"missed a drop: {frame}"
        offset, text = frame["offset"], frame["text"]
        assert offset <= len(self.text), f"gap: have {len(self.text)}, got offset {offset}"
        if offset + len(text) <= len(self.text):
            assert self.text[offset : offset + len(text)] == text
            self.duplicates += 1
            return
        assert self.text[offset:] == text[: len(self.text) - offset]
        self.text = self.text[:offset] + text

    def drop(self, frame: dict[str, Any]) -> None:
        self.drops += 1
        self.attempt = frame["attempt"]
        self.text = self.text[: frame["offset"]]

    def resumed(self, ack: dict[str, Any]) -> None:
        assert "error" not in ack, ack
        if ack["attempt"] != self.attempt:
            self.attempt, self.text = ack["attempt"], ""
        assert ack["offset"] <= len(self.text)
        self.text = self.text[: ack["offset"]] + ack["text"]
        if ack["done"] is not None:
            self.done = ack["done"]


async def step(client: Client, answer: Answer, timeout: float = 20) -> str:
    """Apply the device's next tutor event (of any answer: others are skipped)."""
    event, frame = await asyncio.wait_for(client.tutor.get(), timeout)
    if frame.get("answer_id") != answer.answer_id:
        return event
    if event == "tutor.delta":
        answer.delta(frame)
    elif event == "tutor.drop":
        answer.drop(frame)
    elif event == "tutor.error":
        answer.errors.append(frame)
    elif event == "tutor.done":
        answer.done = frame
    return event


async def follow(client: Client, answer: Answer, timeout: float = 20) -> Answer:
    """Apply the device's tutor events, in arrival order, until the answer is done."""
    while answer.done is None:
        await step(client, answer, timeout)
    return answer


async def until_chars(client: Client, answer: Answer, chars: int, timeout: float = 20) -> None:
    """Apply events until the device shows at least `chars` characters (or the answer ends)."""
    while len(answer.text) < chars and answer.done is None:
        await step(client, answer, timeout)
