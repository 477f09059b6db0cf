"""What the tutor worker holds for its whole life: the HTTP session to the model servers, a
gate per server, the answers it is generating, and a listener for cancels from any hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from uuid import UUID

import aiohttp
from redis.asyncio import Redis

from hub.keys import RedisKeys
from hub.settings import Settings
from hub.tutor.client import ModelServer, Timeouts
from hub.tutor.gate import Gate
from hub.tutor.routing import Tier, servers_from
from hub.tutor.stream import AnswerStreams

logger = logging.getLogger("dreamseed.tutor")


@dataclass
class TutorRuntime:
    settings: Settings
    session: aiohttp.ClientSession
    servers: dict[Tier, ModelServer]
    streams: AnswerStreams
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    gates: dict[ModelServer, Gate] = field(default_factory=dict)
    running: dict[UUID, asyncio.Task[object]] = field(default_factory=dict)
    cancelled: set[UUID] = field(default_factory=set)
    listener: asyncio.Task[None] | None = None

    @property
    def timeouts(self) -> Timeouts:
        s = self.settings
        return Timeouts(
            s.tutor_connect_timeout_s, s.tutor_first_token_timeout_s, s.tutor_token_gap_timeout_s
        )

    def gate(self, server: ModelServer) -> Gate:
        if server not in self.gates:
            self.gates[server] = Gate(self.settings.tutor_server_concurrency)
        return self.gates[server]

    def cancel(self, answer_id: UUID) -> bool:
        """Stop generating `answer_id` here, if it runs here: closes its HTTP stream."""
        task = self.running.get(answer_id)
        if task is None or task.done():
            return False
        self.cancelled.add(answer_id)
        task.cancel()
        return True


async def open_runtime(settings: Settings, redis: Redis, keys: RedisKeys) -> TutorRuntime:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    runtime = TutorRuntime(
        settings=settings,
        session=aiohttp.ClientSession(connector=connector),
        servers=servers_from(settings),
        streams=AnswerStreams(redis, keys, settings.tutor_stream_ttl_s),
    )
    ready = asyncio.Event()
    runtime.listener = asyncio.create_task(_listen_for_cancels(runtime, redis, keys, ready))
    await ready.wait()
    return runtime


async def close_runtime(runtime: TutorRuntime) -> None:
    if runtime.listener is not None:
        runtime.listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.listener
    await runtime.session.close()


async def _listen_for_cancels(
    runtime: TutorRuntime, redis: Redis, keys: RedisKeys, ready: asyncio.Event
) -> None:
    """Cancels are published by whichever hub the student pressed stop on."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(keys.tutor_cancel_channel)
                ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        with contextlib.suppress(ValueError):
                            runtime.cancel(UUID(message["data"].decode()))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("tutor cancel listener failed; resubscribing")
            ready.set()
            await asyncio.sleep(0.5)
