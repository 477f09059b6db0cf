"""The web client in a real Chromium against real hubs: every scenario opens two or more
browser contexts (separate people) and watches what each of them sees."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import RedisSettings
from playwright.async_api import Browser, expect

from hub.context import HubContext
from hub.settings import Settings
from tests.browser import signed_in
from tests.burst import run_burst
from tests.fcm_standin import FcmStandIn
from tests.hubs import restart_hub, start_hubs
from tests.web_support import PARENT, STUDENTS, TEACHER, answer_dialog, open_conversation

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    """The worker's push goes to a local FCM stand-in (nobody here has a device anyway)."""
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


async def test_teacher_and_student_chat_in_real_time(browser: Browser, school: str) -> None:
    """Typing, the message, the unread badge and the read receipt reach the other person live."""
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    s_ctx, student = await signed_in(browser, school, STUDENTS[0], phone=True)
    try:
        await open_conversation(teacher, "이민준 (Minjun Lee)")
        direct = student.locator(".conv", has_text="김선생 (Ms. Kim)")
        # The seeded chat ends with the teacher's message the student has not read yet.
        await expect(direct.locator(".badge.unread")).to_have_text("1")
        await teacher.type("#composer-text", "숙제 확인했어요")
        await teacher.press("#composer-text", "Enter")
        await expect(direct.locator(".conv-last")).to_have_text("숙제 확인했어요")
        await expect(direct.locator(".badge.unread")).to_have_text("2")
        await direct.click()
        await expect(student.locator(".msg .text").last).to_have_text("숙제 확인했어요")
        await expect(teacher.locator(".msg.mine .receipt").last).to_have_text("Read")
        await student.type("#composer-text", "감사합니다")
        await expect(teacher.locator(".typing")).to_contain_text("is typing")
        await student.press("#composer-text", "Enter")
        await expect(teacher.locator(".msg:not(.mine) .text").last).to_have_text("감사합니다")
        await expect(teacher.locator(".typing")).to_have_text("")
        await expect(teacher.locator("[data-presence]")).to_have_text("Online")
        await s_ctx.close()
        await expect(teacher.locator("[data-presence=offline]")).to_contain_text("Last seen")
    finally:
        await t_ctx.close()
        await s_ctx.close()


async def test_announcement_reaches_three_students_and_the_read_list_fills_in(
    browser: Browser, school: str
) -> None:
    """Students who open the channel move from 'not yet read' to 'read'; one acknowledges."""
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    students = [await signed_in(browser, school, email, phone=True) for email in STUDENTS]
    try:
        await open_conversation(teacher, "3학년 1반 공지 (Announcements)")
        await teacher.get_by_label("Acknowledgement required").check()
        await teacher.type("#composer-text", "내일은 체육복을 입고 오세요")
        await teacher.press("#composer-text", "Enter")
        mine = teacher.locator(".msg.mine", has_text="체육복")
        await expect(mine).to_have_attribute("data-seq", "2")
        await mine.get_by_role("button", name="Message actions").click()
        await mine.get_by_role("button", name="Who has read").click()
        panel = teacher.get_by_role("region", name="Who has read")
        await expect(panel.locator(".people.read li")).to_have_count(0)
        for _, page in students:
            await open_conversation(page, "3학년 1반 공지 (Announcements)")
            await expect(page.locator(".msg .text").last).to_have_text(
                "내일은 체육복을 입고 오세요"
            )
            await expect(page.locator("#composer-text")).to_have_count(0)
        await expect(panel.locator(".people.read li")).to_have_count(3)
        first = students[0][1]
        note = first.locator(".msg", has_text="체육복")
        await note.get_by_role("button", name="Acknowledge").click()
        await expect(note.locator(".acked")).to_have_text("Acknowledged ✓")
        await expect(panel.locator(".people.acked li")).to_have_text(["이민준 (Minjun Lee)"])
    finally:
        await t_ctx.close()
        for ctx, _ in students:
            await ctx.close()


async def test_parent_link_request_is_approved_by_the_student(
    browser: Browser, school: str
) -> None:
    """The student sees the parent's request arrive live and approves; the parent sees it."""
    p_ctx, parent = await signed_in(browser, school, PARENT)
    s_ctx, student = await signed_in(browser, school, STUDENTS[1], phone=True)
    try:
        await student.click("[data-nav=links]")
        await expect(student.locator(".card[data-status=pending]")).to_have_count(0)
        await parent.click("[data-nav=links]")
        await parent.fill("#link-email", STUDENTS[1])
        await parent.click("text=Request link")
        pending = student.locator(".card[data-status=pending]")
        await expect(pending).to_have_count(1)
        await pending.get_by_role("button", name="Approve").click()
        await expect(student.locator(".card[data-status=approved]")).to_have_count(1)
        await expect(parent.locator(".card[data-status=approved]")).to_have_count(2)
    finally:
        await p_ctx.close()
        await s_ctx.close()


async def test_korean_ui_renders_korean(browser: Browser, school: str) -> None:
    """In Korean the menus and the composer speak Korean, drawn with a CJK font."""
    ctx, page = await signed_in(browser, school, STUDENTS[0], lang="ko")
    try:
        await expect(page.locator("[data-nav=chats] span").first).to_have_text("대화")
        await expect(page.locator("[data-nav=notifications]")).to_contain_text("알림")
        await open_conversation(page, "김선생 (Ms. Kim)")
        await expect(page.locator("#composer-text")).to_have_attribute(
            "placeholder", "메시지를 입력하세요 (Enter 보내기)"
        )
        assert await page.evaluate("document.documentElement.lang") == "ko"
        assert await page.evaluate("document.fonts.check('16px \"Noto Sans CJK KR\"', '대화')")
    finally:
        await ctx.close()


async def test_student_sits_a_cbt_exam_while_the_teacher_proctors(
    browser: Browser, school: str
) -> None:
    """The roster shows the student, a tab switch arrives as a flag, extend adds time, end ends."""
    exam_title = "수학 단원평가 (CBT, 10분)"
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    s_ctx, student = await signed_in(browser, school, STUDENTS[0])
    try:
        await student.click("[data-nav=exams]")
        await student.locator(".card", has_text=exam_title).get_by_role("link", name="Sit").click()
        await student.get_by_role("button", name="Start").click()
        timer = student.get_by_role("timer")
        await expect(timer).to_have_attribute("data-left", re.compile(r"^(59\d|600)$"))
        await expect(student.locator(".question legend")).to_have_text("Question 1")

        await teacher.click("[data-nav=exams]")
        await (
            teacher.locator(".card", has_text=exam_title)
            .get_by_role("link", name="Proctor")
            .click()
        )
        row = teacher.locator("tr[data-attempt]")
        await expect(row).to_have_count(1)
        await expect(row.locator("td").first).to_have_text("이민준 (Minjun Lee)")
        await expect(row.locator(".online")).to_have_text("Online")

        await student.locator(".choices button").first.click()
        await expect(student.locator(".question legend")).to_have_text("Question 2")
        await expect(row.locator("td").nth(2)).to_contain_text("(1/10)")

        # Headless Chromium keeps every page visible (another tab, a minimised window, bring to
        # front: tried), so the page is told it was hidden the way a browser tells it.
        await student.evaluate(_HIDE_AND_SHOW)
        await expect(teacher.locator(".flags li[data-flag=tab_hidden]")).to_have_count(1)
        await expect(row.locator("[data-flags]")).not_to_have_attribute("data-flags", "0")
        # A real copy: the browser's own shortcut on selected text.
        await student.locator(".question .stem").select_text()
        await student.keyboard.press("Control+C")
        await expect(teacher.locator(".flags li[data-flag=copy]")).to_have_count(1)

        before = int(await timer.get_attribute("data-left") or 0)
        await row.get_by_role("button", name="+5 min").click()
        await expect(timer).to_have_attribute(
            "data-left", re.compile("|".join(str(before + 300 - d) for d in range(0, 10)))
        )
        await row.get_by_role("button", name="End").click()
        await answer_dialog(teacher, "End this student's attempt?", "End")
        await expect(student.locator("[data-result=submitted]")).to_be_visible()
        await expect(row).to_have_attribute("data-status", "submitted")
    finally:
        await t_ctx.close()
        await s_ctx.close()


_HIDE_AND_SHOW = """() => {
    for (const state of ["hidden", "visible"]) {
        Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
    }
}"""


async def test_page_reconnects_after_a_hub_restart_and_shows_missed_messages_once(
    browser: Browser, school: str, settings: Settings, tmp_path: Path
) -> None:
    """Messages sent (through another hub) while the page's hub was down appear exactly once."""
    (hub,) = start_hubs(settings, 1, tmp_path)
    s_ctx, student = await signed_in(browser, hub.url, STUDENTS[0])
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    try:
        await open_conversation(student, "김선생 (Ms. Kim)")
        await open_conversation(teacher, "이민준 (Minjun Lee)")
        await teacher.type("#composer-text", "before the restart")
        await teacher.press("#composer-text", "Enter")
        await expect(student.locator(".msg .text").last).to_have_text("before the restart")
        hub.kill()
        await expect(student.locator(".banner")).to_have_text("Reconnecting…")
        for text in ("missed one", "missed two"):
            await teacher.type("#composer-text", text)
            await teacher.press("#composer-text", "Enter")
            await expect(teacher.locator(".msg.mine[data-seq] .text").last).to_have_text(text)
        hub = restart_hub(settings, hub)
        await expect(student.locator(".banner")).to_have_count(0, timeout=20_000)
        texts = student.locator(".msg .text")
        await expect(texts.filter(has_text="missed two")).to_have_count(1)
        await expect(texts.filter(has_text="missed one")).to_have_count(1)
        await expect(texts.filter(has_text="before the restart")).to_have_count(1)
        await expect(texts.last).to_have_text("missed two")
    finally:
        await s_ctx.close()
        await t_ctx.close()
        hub.stop()


async def test_pages_run_under_their_csp_without_violations(browser: Browser, school: str) -> None:
    """The login page, the app and the API docs load with no CSP violation or script error."""
    ctx = await browser.new_context()
    page = await ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        await page.goto(school + "/")
        await page.get_by_role("button", name="teacher@demo.dreamseed.kr").click()
        await page.click("form button[type=submit]")
        await expect(page.locator(".conv")).to_have_count(3)
        await page.goto(school + "/api/docs")
        await expect(page.locator(".opblock").first).to_be_visible()
        paths = page.locator(".opblock-summary-path", has_text="/api/v1/conversations")
        await expect(paths.first).to_be_visible()
        assert problems == []
    finally:
        await ctx.close()


async def test_reply_edit_delete_and_search_reach_the_other_person(
    browser: Browser, school: str
) -> None:
    """A reply quotes its message, an edit and a deletion show live, search jumps to the hit."""
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    s_ctx, student = await signed_in(browser, school, STUDENTS[0])
    try:
        await open_conversation(teacher, "이민준 (Minjun Lee)")
        await open_conversation(student, "김선생 (Ms. Kim)")
        question = student.locator(".msg", has_text="2번 문제")
        await question.get_by_role("button", name="Message actions").click()
        await question.get_by_role("button", name="Reply").click()
        await student.type("#composer-text", "다시 설명해 주세요")
        await student.press("#composer-text", "Enter")
        reply = teacher.locator(".msg", has_text="다시 설명해 주세요")
        await expect(reply.locator(".reply-quote")).to_have_text(
            "선생님, 2번 문제 풀이를 잘 모르겠어요."
        )
        await reply.get_by_role("button", name="Message actions").click()
        await reply.get_by_role("button", name="Report").click()
        await reply.get_by_label("Why are you reporting this message?").fill("test report")
        await reply.locator(".report-form button[type=submit]").click()
        await expect(reply.get_by_role("status")).to_have_text("Reported")

        sent = student.locator(".msg.mine[data-seq]", has_text="다시 설명해 주세요")
        mine = student.locator(f'.msg[data-seq="{await sent.get_attribute("data-seq")}"]')
        await mine.get_by_role("button", name="Message actions").click()
        await mine.get_by_role("button", name="Edit").click()
        await student.fill("#composer-text", "다시 한 번 설명해 주세요")
        await student.press("#composer-text", "Enter")
        edited = teacher.locator(".msg", has_text="다시 한 번 설명해 주세요")
        await expect(edited.locator(".meta")).to_contain_text("(edited)")

        await mine.get_by_role("button", name="Message actions").click()
        await mine.get_by_role("button", name="Delete").click()
        await answer_dialog(student, "Delete this message?", "Delete")
        await expect(edited).to_have_count(0)
        await expect(teacher.locator(".msg .bubble em").last).to_have_text(
            "This message was deleted"
        )

        await teacher.get_by_role("button", name="Search").click()
        await teacher.fill("#search-q", "현장학습")
        await teacher.press("#search-q", "Enter")
        await teacher.locator(".hit").click()
        await expect(teacher.locator(".conversation h2")).to_have_text(
            "3학년 1반 공지 (Announcements)"
        )
        await expect(teacher.locator(".msg.hit")).to_contain_text("현장학습 동의서")
    finally:
        await t_ctx.close()
        await s_ctx.close()


async def test_a_failed_send_offers_retry_and_stores_the_message_once(
    browser: Browser, school: str
) -> None:
    """Offline, the bubble fails with a retry button; back online, retry stores it once."""
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    s_ctx, student = await signed_in(browser, school, STUDENTS[0])
    try:
        await open_conversation(teacher, "이민준 (Minjun Lee)")
        await open_conversation(student, "김선생 (Ms. Kim)")
        await student.context.set_offline(True)
        await expect(student.locator(".banner")).to_have_text("Reconnecting…")
        await student.type("#composer-text", "오프라인에서 보낸 글")
        await student.press("#composer-text", "Enter")
        failed = student.locator(".msg.pending.failed")
        await expect(failed).to_contain_text("Not sent")
        await student.context.set_offline(False)
        await expect(student.locator(".banner")).to_have_count(0, timeout=15_000)
        await failed.get_by_role("button", name="Retry").click()
        await expect(student.locator(".msg.pending")).to_have_count(0)
        texts = teacher.locator(".msg .text", has_text="오프라인에서 보낸 글")
        await expect(texts).to_have_count(1)
        await expect(
            student.locator(".msg[data-seq] .text", has_text="오프라인에서")
        ).to_have_count(1)
    finally:
        await t_ctx.close()
        await s_ctx.close()


async def test_a_conversation_opened_as_the_network_drops_loads_once_back_online(
    browser: Browser, school: str
) -> None:
    """Its first page fails (offline): not "Loading…" for ever; the reconnect loads it, and a
    message sent then shows as stored (the race behind a flaky retry test)."""
    s_ctx, student = await signed_in(browser, school, STUDENTS[0])
    try:
        await expect(student.locator(".conv", has_text="김선생 (Ms. Kim)")).to_be_visible()
        await student.context.set_offline(True)
        await open_conversation(student, "김선생 (Ms. Kim)")
        await expect(student.locator(".history .msg[data-seq]")).to_have_count(0)
        await student.context.set_offline(False)
        await expect(student.locator(".banner")).to_have_count(0, timeout=15_000)
        await expect(student.locator(".history .msg[data-seq]").first).to_be_visible()
        await expect(student.locator(".history [role=status]")).to_have_count(0)
        await student.type("#composer-text", "다시 연결됐어요")
        await student.press("#composer-text", "Enter")
        await expect(
            student.locator(".msg[data-seq] .text", has_text="다시 연결됐어요")
        ).to_have_count(1)
    finally:
        await s_ctx.close()


async def test_teacher_creates_a_group_and_students_see_it_with_its_first_message(
    browser: Browser, school: str
) -> None:
    """A group made in the browser reaches its members live, unread badge included."""
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    s_ctx, student = await signed_in(browser, school, STUDENTS[2], phone=True)
    try:
        await teacher.get_by_role("link", name="New chat").click()
        await teacher.get_by_label("Group (class, subject)").check()
        await teacher.fill("#new-title", "수학 과목방")
        await teacher.get_by_label("정하준 (Hajun Jung)").check()
        await teacher.get_by_label("최서연 (Seoyeon Choi)").check()
        await teacher.get_by_role("button", name="Create").click()
        await expect(teacher.locator(".conversation h2")).to_have_text("수학 과목방")
        await teacher.type("#composer-text", "과목방을 열었습니다")
        await teacher.press("#composer-text", "Enter")
        group = student.locator(".conv", has_text="수학 과목방")
        await expect(group.locator(".conv-last")).to_have_text("과목방을 열었습니다")
        await expect(group.locator(".badge.unread")).to_have_text("1")

        # Removed, the group leaves the student's list at once; added back, it returns.
        await teacher.get_by_role("button", name="Info").click()
        info = teacher.get_by_role("region", name="Info")
        await info.locator(".members li", has_text="정하준").get_by_role("button").click()
        await answer_dialog(teacher, "Remove this member?", "Remove")
        await expect(group).to_have_count(0)
        await info.get_by_label("정하준 (Hajun Jung)").check()
        await info.get_by_role("button", name="Add members").click()
        await expect(group).to_have_count(1)
    finally:
        await t_ctx.close()
        await s_ctx.close()


async def test_parent_opens_a_chat_with_the_teacher_and_sets_notifications(
    browser: Browser, school: str, hub_ctx: HubContext
) -> None:
    """A parent starts a direct chat with the teacher, mutes it and sets quiet hours."""
    p_ctx, parent = await signed_in(browser, school, PARENT)
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    try:
        await parent.get_by_role("link", name="New chat").click()
        await parent.get_by_label("김선생 (Ms. Kim)").check()
        await parent.get_by_role("button", name="Create").click()
        await expect(parent.locator(".conversation h2")).to_have_text("김선생 (Ms. Kim)")
        await parent.type("#composer-text", "민준이 엄마입니다. 상담 가능할까요?")
        await parent.press("#composer-text", "Enter")
        await expect(teacher.locator(".conv", has_text="상담 가능할까요")).to_have_count(1)

        await parent.get_by_role("button", name="Info").click()
        await parent.get_by_label("Mute").check()
        await expect(parent.get_by_role("status")).to_have_text("Saved")
        await parent.click("[data-nav=settings]")
        await parent.fill("#quiet-start", "22:00")
        await parent.fill("#quiet-end", "07:00")
        await parent.get_by_role("button", name="Save").click()
        await expect(parent.get_by_role("status")).to_have_text("Saved")
        async with hub_ctx.db.system() as conn:
            row = await conn.fetchrow(
                """SELECT p.muted, n.quiet_start::text, n.quiet_end::text
               FROM participants p JOIN users u ON u.id = p.user_id
               LEFT JOIN notification_preferences n ON n.user_id = u.id
               WHERE u.email = $1 AND p.muted""",
                PARENT,
            )
        assert row is not None and (row["quiet_start"], row["quiet_end"]) == (
            "22:00:00",
            "07:00:00",
        )
    finally:
        await p_ctx.close()
        await t_ctx.close()


async def test_student_sits_the_cat_exam_to_its_end_and_sees_theta_over_time(
    browser: Browser, school: str
) -> None:
    """CAT serves one item after another until it stops; the result and the θ chart show."""
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    s_ctx, student = await signed_in(browser, school, STUDENTS[1])
    try:
        await student.click("[data-nav=exams]")
        await student.locator(".card", has_text="(CAT)").get_by_role("link", name="Sit").click()
        await student.get_by_role("button", name="Start").click()
        result = student.locator("[data-result=submitted]")
        for answered in range(20):
            if await result.count():
                break
            legend = student.locator(".question legend")
            await expect(legend).to_have_text(f"Question {answered + 1}")
            await student.locator(".choices button").nth(answered % 4).click()
            await expect(legend.or_(result)).not_to_have_text(f"Question {answered + 1}")
        await expect(result).to_contain_text("θ = ")
        await student.click("[data-nav=dashboard]")
        await expect(student.locator("figure.chart svg path.line")).to_have_count(1)
        await teacher.click("[data-nav=dashboard]")
        card = teacher.locator(".card", has_text="(CAT)")
        await expect(card).to_contain_text("1 submitted")
    finally:
        await t_ctx.close()
        await s_ctx.close()


async def test_a_reload_keeps_me_signed_in_and_logout_ends_the_session(
    browser: Browser, school: str
) -> None:
    """The refresh token (this tab only) survives a reload; after logout it is refused."""
    ctx, page = await signed_in(browser, school, STUDENTS[2])
    try:
        refresh = await page.evaluate("sessionStorage.getItem('dreamseed.refresh')")
        await page.reload()
        await expect(page.locator(".conv")).to_have_count(2)
        rotated = await page.evaluate("sessionStorage.getItem('dreamseed.refresh')")
        assert rotated and rotated != refresh
        await page.get_by_role("button", name="Log out").click()
        await expect(page.locator("#email")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('dreamseed.refresh')") is None
        answer = await page.request.post(
            school + "/api/v1/auth/refresh", data={"refresh_token": rotated}
        )
        assert answer.status == 401
    finally:
        await ctx.close()


async def test_notification_centre_shows_the_workers_alert_live_and_marks_it_read(
    browser: Browser, school: str, settings: Settings, worker_ctx: dict[str, Any]
) -> None:
    """A parent's link request becomes, through the real worker, a live badge and an entry."""
    p_ctx, parent = await signed_in(browser, school, PARENT)
    s_ctx, student = await signed_in(browser, school, STUDENTS[2])
    try:
        badge = student.locator("[data-nav=notifications] .badge")
        await expect(badge).to_have_count(0)
        await parent.click("[data-nav=links]")
        await parent.fill("#link-email", STUDENTS[2])
        await parent.click("text=Request link")
        # The parent is told nothing about the address until the student approves.
        await expect(parent.get_by_role("status")).to_contain_text("Request sent")
        await expect(parent.locator(".card[data-status=pending]")).to_have_count(0)
        queue = worker_ctx["hub"].keys.job_queue
        worker = await run_burst(RedisSettings.from_dsn(settings.redis_dsn), queue, worker_ctx)
        assert worker.jobs_failed == 0
        await expect(badge).to_have_text("1")
        await student.click("[data-nav=notifications]")
        entry = student.locator(".notifications li.unread")
        await expect(entry).to_have_count(1)
        await entry.get_by_role("button", name="Mark read").click()
        await expect(student.locator(".notifications li.read")).to_have_count(1)
        await expect(badge).to_have_count(0)
    finally:
        await p_ctx.close()
        await s_ctx.close()
