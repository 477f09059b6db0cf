"""The shared resources a domain function needs, built once per process at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from redis.asyncio import Redis

from hub.bus import EventBus
from hub.clock import Clock, utc_now
from hub.components import Components
from hub.db import Database
from hub.files.storage import LocalStorage, Storage
from hub.jobs import JobQueue
from hub.keys import RedisKeys
from hub.presence.presence import Presence
from hub.ratelimit import RateLimiter, SharedLimiter
from hub.settings import Settings
from hub.tokens import TokenIssuer


@dataclass
class HubContext:
    settings: Settings
    db: Database
    redis: Redis
    bus: EventBus
    tokens: TokenIssuer
    keys: RedisKeys
    rate_limiter: RateLimiter
    message_limiter: SharedLimiter
    presence: Presence
    jobs: JobQueue
    clock: Clock = field(default=utc_now)
    # Domain services wired by the process's assembler (api/app.py, workers/main.py).
    components: Components = field(default_factory=Components)
    # Where file bytes live (hub/files/storage.py); open_context picks it from the settings.
    storage: Storage = field(default_factory=lambda: LocalStorage(Path(".dreamseed/files")))


@dataclass(frozen=True)
class Actor:
    """Who is asking: an authenticated user in one session."""

    user_id: UUID
    session_id: UUID


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for sessions and the audit log."""

    ip: str | None = None
    user_agent: str | None = None
