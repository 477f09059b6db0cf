"""Parent alerts about a child's exam: a result, a serious proctoring flag.

Parents are found through approved parent links in a system transaction (the student, the
teacher ending an attempt, or the deadline job may be the one acting, and RLS shows links only
to their parties). Each parent reads the alert in their own language: one notification job per
language, whose dedup key carries the language, so each parent is told once per alert.

A proctoring alert never accuses: a flag is data for a teacher to look at, not a verdict.
"""

from __future__ import annotations

from uuid import UUID

from hub.context import HubContext
from hub.notify import enqueue
from hub.notify.templates import Language, excerpt, language_of


async def parents_of(ctx: HubContext, student_id: UUID) -> tuple[str, dict[Language, list[UUID]]]:
    """The child's display name and the parents linked to them, grouped by language."""
    async with ctx.db.system() as conn:
        name = await conn.fetchval("SELECT display_name FROM users WHERE id = $1", student_id)
        rows = await conn.fetch(
            """SELECT l.parent_id, u.language FROM parent_links l
               JOIN users u ON u.id = l.parent_id
               WHERE l.student_id = $1 AND l.status = 'approved'
               ORDER BY l.parent_id""",
            student_id,
        )
    groups: dict[Language, list[UUID]] = {}
    for row in rows:
        groups.setdefault(language_of(row["language"]), []).append(row["parent_id"])
    return str(name or ""), groups


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
    """The result of a finished attempt; the notification job also e-mails it (kind
    'exam_result') to parents who keep e-mail on."""
    child, groups = await parents_of(ctx, student_id)
    for lang, parents in groups.items():
        title, body = result_text(lang, child, exam_title, score, max_score)
        await enqueue.tell_users(
            ctx,
            parents,
            kind="exam_result",
            title=title,
            body=body,
            data={"exam_id": str(exam_id), "attempt_id": str(attempt_id)},
            dedup_key=f"exam_result:{attempt_id}:{lang}",
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
    child, groups = await parents_of(ctx, student_id)
    for lang, parents in groups.items():
        title, body = flag_text(lang, child, exam_title)
        await enqueue.tell_users(
            ctx,
            parents,
            kind="proctor_flag",
            title=title,
            body=body,
            data={"exam_id": str(exam_id), "attempt_id": str(attempt_id), "flag": flag_kind},
            dedup_key=f"proctor_flag:{attempt_id}:{flag_id}:{lang}",
            urgent=True,
        )


def result_text(
    lang: Language, child: str, exam_title: str, score: int, max_score: int
) -> tuple[str, str]:
    """'이민준 학생의 ‘수학 단원평가’ 결과: 8점 / 10점' / 'Minjun Lee scored 8 out of 10 on …'."""
    exam = excerpt(exam_title, 60)
    if lang == "ko":
        return f"시험 결과: {exam}", f"{child} 학생의 ‘{exam}’ 결과: {score}점 / {max_score}점"
    return f"Exam result: {exam}", f"{child} scored {score} out of {max_score} on “{exam}”"


def flag_text(lang: Language, child: str, exam_title: str) -> tuple[str, str]:
    """What a parent reads about a serious flag: something to look at, never 'cheating'."""
    exam = excerpt(exam_title, 60)
    if lang == "ko":
        return (
            f"시험 감독 알림: {exam}",
            f"{child} 학생의 ‘{exam}’ 시험 중 선생님의 확인이 필요한 일이 있었습니다.",
        )
    return (
        f"Exam notice: {exam}",
        f"Something during {child}'s exam “{exam}” needs a teacher's look.",
    )
