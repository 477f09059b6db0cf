"""A student asks: checked (configured, rate, exam policy, organization switch, in-flight
limit, injection filter), stored as a message of their tutor conversation, and handed to the
tutor worker. The answer then streams to every device of the student (see generate.py).

A retry with the same client_msg_id returns the first ask's result, whatever became of it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from hub import metrics as hub_metrics
from hub.context import Actor, HubContext
from hub.db import Connection
from hub.errors import DomainError, ErrorCode
from hub.exams.policy import ensure_may_use_tutor
from hub.jobs import ArqJobs
from hub.ratelimit import RateLimiter
from hub.tutor import metrics, records
from hub.tutor.records import Outcome, Request
from hub.tutor.routing import Plan, choose_tier, estimate_tokens, servers_from
from hub.tutor.safety import injection_reason
from schema.models.tutor import AskTutor

logger = logging.getLogger("dreamseed.tutor")
JOB = "generate_tutor_answer"
NOT_CONFIGURED = "The AI tutor is not configured on this server"

# Atomically: forget expired entries, refuse past the limit, else take a slot.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
_SLOT_MS = 15 * 60 * 1000  # a slot whose answer never ended frees itself


@dataclass(frozen=True)
class Asked:
    answer_id: UUID
    conversation_id: UUID
    question: dict[str, Any]

    def ack(self) -> dict[str, Any]:
        return {
            "answer_id": self.answer_id,
            "conversation_id": self.conversation_id,
            "question": self.question,
        }


_ORG_FACTS = """
    SELECT o.id, o.zone_id, coalesce((o.settings->'tutor'->>'enabled')::boolean, true) AS enabled,
           coalesce(o.settings->'tutor'->>'plan', 'basic') AS plan
    FROM organizations o
    JOIN memberships m ON m.org_id = o.id AND m.user_id = $1 AND m.role = 'student'
    WHERE ($2::uuid IS NULL OR o.id = $2)
      AND ($3::uuid IS NULL OR o.id = (SELECT org_id FROM tutor_conversations
                                       WHERE conversation_id = $3 AND student_id = $1))
    ORDER BY o.created_at LIMIT 2"""


async def ask(ctx: HubContext, actor: Actor, body: AskTutor) -> Asked:
    """Store the question and queue its answer; refusals raise DomainError (counted)."""
    try:
        asked = await _ask(ctx, actor, body)
    except DomainError as exc:
        metrics.QUESTIONS.labels(str(exc.code)).inc()
        raise
    metrics.QUESTIONS.labels("accepted").inc()
    return asked


async def _ask(ctx: HubContext, actor: Actor, body: AskTutor) -> Asked:
    if not servers_from(ctx.settings):
        raise DomainError(ErrorCode.TUTOR_NOT_CONFIGURED, NOT_CONFIGURED)
    async with ctx.db.acting(actor.user_id) as conn:
        earlier = await records.request_by_client_id(conn, actor.user_id, body.client_msg_id)
        if earlier is not None:
            return await _replay(conn, earlier)
    await _limit_rate(ctx, actor)
    reason = injection_reason(body.question)
    answer_id = uuid.uuid4()
    async with ctx.db.acting(actor.user_id) as conn:
        org = await _organization(conn, actor, body)
        await ensure_may_use_tutor(conn, actor.user_id, ctx.clock())
        if not org["enabled"]:
            raise DomainError(ErrorCode.TUTOR_DISABLED, "Your school has turned the AI tutor off")
        if reason is not None:
            await records.insert_request(
                conn,
                answer_id=answer_id,
                user_id=actor.user_id,
                zone_id=org["zone_id"],
                org_id=org["id"],
                client_msg_id=body.client_msg_id,
                outcome=Outcome.REFUSED,
                reason=f"prompt_injection:{reason}",
                refused_question=body.question,
            )
    if reason is not None:
        # Operators alert on this line (and the counter): someone is probing the tutor.
        logger.warning(
            "tutor question refused: prompt injection (%s) by user %s", reason, actor.user_id
        )
        metrics.REFUSED.labels("prompt_injection").inc()
        metrics.OUTCOMES.labels(str(Outcome.REFUSED)).inc()
        raise DomainError(
            ErrorCode.TUTOR_REFUSED,
            "The AI tutor cannot answer this question: it tries to change the tutor's rules",
            reason="prompt_injection",
        )
    await _take_slot(ctx, actor.user_id, answer_id)
    try:
        asked, created = await _store(ctx, actor, body, org, answer_id)
    except BaseException:
        await ctx.redis.zrem(ctx.keys.tutor_in_flight(actor.user_id), str(answer_id))
        raise
    if created:
        await ctx.bus.join(actor.user_id, asked.conversation_id)
    await ctx.bus.to_conversation(asked.conversation_id, "message.new", asked.question)
    hub_metrics.MESSAGES.labels("sent").inc()
    await _enqueue(ctx, answer_id)
    return asked


async def _organization(conn: Connection, actor: Actor, body: AskTutor) -> Any:
    rows = await conn.fetch(_ORG_FACTS, actor.user_id, body.org_id, body.conversation_id)
    if not rows:
        if body.conversation_id is not None:
            raise DomainError(ErrorCode.NOT_FOUND, "Tutor conversation was not found")
        raise DomainError(ErrorCode.NOT_A_STUDENT, "The AI tutor is for students of a school")
    if len(rows) > 1:
        raise DomainError(
            ErrorCode.VALIDATION,
            "You are a student of several schools: say which (org_id or conversation_id)",
            field="org_id",
        )
    return rows[0]


async def _store(
    ctx: HubContext, actor: Actor, body: AskTutor, org: Any, answer_id: UUID
) -> tuple[Asked, bool]:
    tier = choose_tier(
        estimate_tokens(body.question),
        Plan(org["plan"]) if org["plan"] in Plan.__members__.values() else Plan.BASIC,
        ctx.settings.tutor_large_from_tokens,
        ctx.settings.tutor_premium_from_tokens,
    )
    for _ in range(2):
        try:
            async with ctx.db.acting(actor.user_id) as conn:
                conversation_id, created = await records.tutor_conversation(
                    conn, actor.user_id, org["id"], org["zone_id"]
                )
                question = await records.insert_message(
                    conn, conversation_id, actor.user_id, body.client_msg_id, body.question
                )
                await records.insert_request(
                    conn,
                    answer_id=answer_id,
                    user_id=actor.user_id,
                    zone_id=org["zone_id"],
                    org_id=org["id"],
                    client_msg_id=body.client_msg_id,
                    outcome=Outcome.QUEUED,
                    conversation_id=conversation_id,
                    question_message_id=UUID(question["id"]),
                    tier=str(tier),
                )
            return Asked(answer_id, conversation_id, question), created
        except records.ConcurrentCreationError:
            continue
    raise DomainError(ErrorCode.CONFLICT, "The question could not be stored; retry it")


async def _replay(conn: Connection, earlier: Request) -> Asked:
    if earlier.outcome is Outcome.REFUSED or earlier.conversation_id is None:
        raise DomainError(
            ErrorCode.TUTOR_REFUSED, "This question was refused", reason="prompt_injection"
        )
    row = await conn.fetchrow(
        "SELECT id, seq, created_at, conversation_id, content FROM messages WHERE id = $1",
        earlier.question_message_id,
    )
    question = {k: (str(v) if isinstance(v, UUID) else v) for k, v in dict(row or {}).items()}
    return Asked(earlier.id, earlier.conversation_id, question)


async def _limit_rate(ctx: HubContext, actor: Actor) -> None:
    limiter = RateLimiter(ctx.redis, ctx.settings.tutor_questions_per_minute, 60)
    decision = await limiter.hit(
        ctx.keys.rate_limit(f"ai:{actor.user_id}"), int(ctx.clock().timestamp() * 1000)
    )
    if not decision.allowed:
        hub_metrics.RATE_LIMITED.labels("ai").inc()
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"Too many questions: at most {limiter.limit} a minute",
            retry_after=max(1, round(decision.retry_after_s + 0.5)),
        )


async def _take_slot(ctx: HubContext, user_id: UUID, answer_id: UUID) -> None:
    now_ms = int(ctx.clock().timestamp() * 1000)
    limit = ctx.settings.tutor_max_in_flight
    taken = await cast(
        "Awaitable[int]",
        ctx.redis.eval(
            _TAKE_SLOT,
            1,
            ctx.keys.tutor_in_flight(user_id),
            str(now_ms),
            str(limit),
            str(now_ms + _SLOT_MS),
            str(answer_id),
            str(_SLOT_MS),
        ),
    )
    if not taken:
        raise DomainError(
            ErrorCode.TOO_MANY_IN_FLIGHT,
            f"At most {limit} questions may be answered at once: wait for one to finish",
        )


async def _enqueue(ctx: HubContext, answer_id: UUID) -> None:
    if not isinstance(ctx.jobs, ArqJobs):
        raise DomainError(ErrorCode.UNAVAILABLE, "The tutor's job queue is not available")
    queue = ArqJobs(ctx.jobs.pool, ctx.keys.tutor_job_queue, ctx.jobs.namespace)
    await queue.enqueue(JOB, str(answer_id), job_id=f"tutor:{answer_id}")
