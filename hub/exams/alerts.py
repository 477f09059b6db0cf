"""Parent alerts about a child's exam: a result, a serious proctoring flag.

Parents are found through approved parent links in a system transaction (the student, the
teacher ending an attempt, or the deadline job may be the one acting, and RLS shows links only
to their parties). The notification job sends each alert once per dedup key.
"""

from __future__ import annotations

from uuid import UUID

from hub.context import HubContext
from hub.notify import enqueue


async def parents_of(ctx: HubContext, student_id: UUID) -> tuple[str, list[UUID]]:
    """The child's display name and the parents linked to them."""
    async with ctx.db.system() as conn:
        name = await conn.fetchval("SELECT display_name FROM users WHERE id = $1", student_id)
        rows = await conn.fetch(
            "SELECT parent_id FROM parent_links WHERE student_id = $1 AND status = 'approved'",
            student_id,
        )
    return str(name or ""), [r["parent_id"] for r in rows]


async def exam_result(
    ctx: HubContext,
    *,
    attempt_id: UUID,
    exam_id: UUID,
    student_id: UUID,
    exam_title: str,
    score: int,
    max_score: int,
) -> None:
    child, parents = await parents_of(ctx, student_id)
    if not parents:
        return
    await enqueue.tell_users(
        ctx,
        parents,
        kind="exam_result",
        title=f"시험 결과: {exam_title[:60]}",
        body=f"{child} 학생의 결과: {score}점 / {max_score}점",
        data={"exam_id": str(exam_id), "attempt_id": str(attempt_id)},
        dedup_key=f"exam_result:{attempt_id}",
    )


async def proctor_flag(
    ctx: HubContext,
    *,
    attempt_id: UUID,
    exam_id: UUID,
    student_id: UUID,
    exam_title: str,
    flag_kind: str,
    flag_id: int,
) -> None:
    """A serious flag breaks through quiet hours: a parent may want to know at once."""
    child, parents = await parents_of(ctx, student_id)
    if not parents:
        return
    await enqueue.tell_users(
        ctx,
        parents,
        kind="proctor_flag",
        title=f"시험 감독 알림: {exam_title[:60]}",
        body=f"{child} 학생의 시험 중 확인이 필요한 일이 있었습니다 ({flag_kind})",
        data={"exam_id": str(exam_id), "attempt_id": str(attempt_id), "flag": flag_kind},
        dedup_key=f"proctor_flag:{attempt_id}:{flag_id}",
        urgent=True,
    )
