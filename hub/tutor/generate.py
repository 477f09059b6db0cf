"""Generating one answer, in the tutor worker (never in a hub's socket handler, so a hub
crash loses nothing): route to a model, stream its tokens through the output filter and the
relay, retry a filtered answer up to three times, then store it as a message.

The worker holds a lease on the answer (a Redis key it renews); an answer whose lease lapsed
while `streaming` belonged to a worker that died: the sweep (or a re-run of the job) ends it
as `interrupted`, keeping the text the student already saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from uuid import UUID

from hub.context import HubContext
from hub.tutor import metrics, records
from hub.tutor.client import (
    Finish,
    ModelError,
    ModelErrorKind,
    ModelServer,
    Token,
    Usage,
    stream_chat,
)
from hub.tutor.finish import finish_answer
from hub.tutor.prompt import REFUSAL, Turn, build_messages
from hub.tutor.records import Ending, Outcome, Request
from hub.tutor.relay import Relay
from hub.tutor.routing import Tier, candidates
from hub.tutor.runtime import TutorRuntime
from hub.tutor.safety import HarmfulOutputError, OutputGuard

logger = logging.getLogger("dreamseed.tutor")
FILTER_RETRIES = 3

_FACTS = """
    SELECT q.content AS question, q.seq,
           coalesce(o.settings->'tutor'->>'language', u.language) AS language,
           o.settings->'tutor'->>'grade' AS grade
    FROM tutor_requests r
    JOIN messages q ON q.id = r.question_message_id
    JOIN organizations o ON o.id = r.org_id
    JOIN users u ON u.id = r.user_id
    WHERE r.id = $1"""

_ERROR_CODES = {
    ModelErrorKind.CONNECT: "model_unavailable",
    ModelErrorKind.HTTP_STATUS: "model_unavailable",
    ModelErrorKind.FIRST_TOKEN_TIMEOUT: "model_timeout",
    ModelErrorKind.STALL: "model_timeout",
    ModelErrorKind.UPSTREAM: "model_failed",
    ModelErrorKind.GARBAGE: "model_failed",
    ModelErrorKind.DROPPED: "model_failed",
}


@dataclass
class Progress:
    """What one generation learned on the way, for the record."""

    model: str | None = None
    fallback_from: str | None = None
    attempts: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    finish_reason: str = "stop"


async def generate_answer(ctx: HubContext, rt: TutorRuntime, answer_id: UUID) -> Outcome | None:
    """The job: generate `answer_id` if it is still queued; None when there was nothing to do."""
    async with ctx.db.system() as conn:  # the worker learns whose answer this is
        request = await records.request_by_id(conn, answer_id)
    if request is None:
        return None
    lease = ctx.keys.tutor_lease(answer_id)
    lease_ms = int(rt.settings.tutor_lease_s * 1000)
    if not await ctx.redis.set(lease, rt.worker_id, nx=True, px=lease_ms):
        return None  # another worker generates it
    keeper = asyncio.create_task(_keep_lease(ctx, lease, rt.worker_id, lease_ms))
    try:
        if request.outcome is Outcome.STREAMING:  # a re-run after the first worker died
            return await end_interrupted(ctx, rt, request)
        if request.outcome is not Outcome.QUEUED:
            return None
        return await _Generation(ctx, rt, request).run()
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await ctx.redis.delete(lease)


async def _keep_lease(ctx: HubContext, key: str, owner: str, lease_ms: int) -> None:
    while True:
        await asyncio.sleep(lease_ms / 3000)
        with contextlib.suppress(Exception):
            await ctx.redis.set(key, owner, px=lease_ms)


async def end_interrupted(ctx: HubContext, rt: TutorRuntime, request: Request) -> Outcome | None:
    """End an answer whose worker died: what the student saw is kept, marked interrupted."""
    state = await rt.streams.state(request.id)
    text = state.text if state else ""
    ending = Ending(Outcome.INTERRUPTED, reason="the worker generating it stopped")
    done = await finish_answer(ctx, rt.streams, request, ending, text, "interrupted", None)
    return Outcome.INTERRUPTED if done else None


class _GoneError(Exception):
    """The answer was ended elsewhere (a sweep) before this worker started it."""


class _Generation:
    def __init__(self, ctx: HubContext, rt: TutorRuntime, request: Request) -> None:
        self.ctx, self.rt, self.request = ctx, rt, request
        s = rt.settings
        self.relay = Relay(
            rt.streams, ctx.bus, request.id, request.user_id, s.tutor_frame_ms, s.tutor_frame_chars
        )
        self.progress = Progress()
        self.started = time.monotonic()
        self.text = ""  # the current attempt's text released to the student

    async def run(self) -> Outcome | None:
        cancelled_key = self.ctx.keys.tutor_cancel(self.request.id)
        task = asyncio.create_task(self._generate())
        self.rt.running[self.request.id] = task
        try:
            if await self.ctx.redis.exists(cancelled_key):
                self.rt.cancel(self.request.id)
            ending = await task
        except _GoneError:
            await self.relay.abort()
            return None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # the worker itself stops
                task.cancel()
                await self.relay.abort()
                raise
            ending = self._ending(Outcome.CANCELLED, "cancelled by the student")
            self.progress.finish_reason = "cancelled"
        except ModelError as exc:
            metrics.MODEL_ERRORS.labels(str(exc.kind)).inc()
            logger.warning("tutor answer %s failed: %s", self.request.id, exc.message)
            self.relay.error(_ERROR_CODES[exc.kind], _student_message(exc))
            ending = self._ending(Outcome.ERROR, f"{exc.kind}: {exc.message}"[:500])
            self.progress.finish_reason = "error"
        except Exception:
            logger.exception("tutor answer %s failed", self.request.id)
            self.relay.error("internal_error", "Something went wrong while answering")
            ending = self._ending(Outcome.ERROR, "internal error")
            self.progress.finish_reason = "error"
        finally:
            self.rt.running.pop(self.request.id, None)
            self.rt.cancelled.discard(self.request.id)
        await self.relay.close()
        usage = None
        if self.progress.completion_tokens is not None:
            usage = {
                "prompt_tokens": self.progress.prompt_tokens,
                "completion_tokens": self.progress.completion_tokens,
            }
        done = await finish_answer(
            self.ctx,
            self.rt.streams,
            self.request,
            ending,
            self.text,
            self.progress.finish_reason,
            usage,
        )
        if done and ending.ttft_ms is not None and self.progress.model:
            _observe_speed(self.progress, ending)
        return ending.outcome if done else None

    def _ending(self, outcome: Outcome, reason: str | None = None) -> Ending:
        p = self.progress
        return Ending(
            outcome,
            reason=reason,
            model=p.model,
            fallback_from=p.fallback_from,
            attempts=p.attempts,
            prompt_tokens=p.prompt_tokens,
            completion_tokens=p.completion_tokens,
            ttft_ms=None if p.ttft_s is None else round(p.ttft_s * 1000),
            total_ms=round((time.monotonic() - self.started) * 1000),
        )

    async def _generate(self) -> Ending:
        async with self.ctx.db.acting(self.request.user_id) as conn:
            if not await records.mark_streaming(conn, self.request.id):
                raise _GoneError
            facts = await conn.fetchrow(_FACTS, self.request.id)
            assert facts is not None  # noqa: S101 - the question is stored with the request
            assert self.request.conversation_id is not None  # noqa: S101
            turns = await records.recent_turns(
                conn, self.request.conversation_id, self.request.user_id, facts["seq"]
            )
        language = facts["language"] or "ko"
        messages = build_messages(
            language,
            facts["grade"],
            [Turn(role, content) for role, content in turns],
            facts["question"],
            self.rt.settings.tutor_context_tokens,
        )
        servers = candidates(Tier(self.request.tier or Tier.SMALL), self.rt.servers)
        if not servers:
            raise ModelError(ModelErrorKind.CONNECT, "no model server is configured")
        for attempt in range(1, FILTER_RETRIES + 2):
            self.progress.attempts = attempt
            guard = OutputGuard(self.rt.settings.tutor_holdback_chars)
            try:
                await self._attempt(messages, servers, guard)
                self._show(guard.finish())
                return self._ending(Outcome.DONE)
            except HarmfulOutputError as exc:
                metrics.FILTERED.labels(exc.reason).inc()
                logger.warning(
                    "tutor answer %s attempt %d filtered (%s)", self.request.id, attempt, exc.reason
                )
                self.relay.drop()
                self.text = ""
        self._show(REFUSAL.get(language, REFUSAL["ko"]))
        self.progress.finish_reason = "filtered"
        return self._ending(Outcome.FILTERED, "the answer failed the output filter 4 times")

    def _show(self, text: str) -> None:
        self.text += text
        self.relay.add(text)

    async def _attempt(
        self, messages: list[dict[str, str]], servers: list[ModelServer], guard: OutputGuard
    ) -> None:
        """One answer from the first server that takes the request (later ones on failure)."""
        for index, server in enumerate(servers):
            try:
                await self._stream(server, messages, guard)
                return
            except ModelError as exc:
                if not exc.server_down or index == len(servers) - 1 or guard.text:
                    raise
                metrics.MODEL_ERRORS.labels(str(exc.kind)).inc()
                metrics.FALLBACKS.labels(server.model).inc()
                logger.warning("tutor model %s down (%s); falling back", server.model, exc)
                self.progress.fallback_from = server.model

    async def _stream(
        self, server: ModelServer, messages: list[dict[str, str]], guard: OutputGuard
    ) -> None:
        async def tell(position: int) -> None:
            self.relay.queued(position)

        async with self.rt.gate(server).slot(tell):
            self.progress.model = server.model
            asked = time.monotonic()
            pieces = stream_chat(
                self.rt.session,
                server,
                messages,
                max_tokens=self.rt.settings.tutor_max_tokens,
                timeouts=self.rt.timeouts,
                api_key=self.rt.settings.tutor_api_key,
            )
            try:
                async for piece in pieces:
                    if isinstance(piece, Token):
                        if self.progress.ttft_s is None:
                            self.progress.ttft_s = time.monotonic() - asked
                        self._show(guard.feed(piece.text))
                    elif isinstance(piece, Finish):
                        self.progress.finish_reason = piece.reason
                    elif isinstance(piece, Usage):
                        self.progress.prompt_tokens = piece.prompt_tokens
                        self.progress.completion_tokens = piece.completion_tokens
            finally:
                await pieces.aclose()  # closes the HTTP stream: vLLM aborts the request


def _student_message(exc: ModelError) -> str:
    if exc.kind in (ModelErrorKind.FIRST_TOKEN_TIMEOUT, ModelErrorKind.STALL):
        return "The AI tutor is taking too long to answer; please ask again"
    if exc.server_down:
        return "The AI tutor is unavailable right now; please try again shortly"
    return "The AI tutor stopped answering unexpectedly; please ask again"


def _observe_speed(progress: Progress, ending: Ending) -> None:
    model = progress.model or "unknown"
    assert ending.ttft_ms is not None  # noqa: S101
    metrics.TTFT.labels(model).observe(ending.ttft_ms / 1000)
    tokens = progress.completion_tokens or 0
    if tokens > 1 and ending.total_ms is not None:
        per_token = (ending.total_ms - ending.ttft_ms) / 1000 / (tokens - 1)
        metrics.TPOT.labels(model).observe(max(per_token, 0.0))
