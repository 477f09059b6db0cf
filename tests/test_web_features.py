"""The web client's AI tutor pane, attachments, administration and in-page dialogs, in a real
Chromium against the real hub (and the real tutor worker against the stand-in model server)."""

from __future__ import annotations

import io
import random
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.worker import Worker
from PIL import Image
from playwright.async_api import Browser, Page, expect

from api.web import APP_CSP, app_csp
from hub.context import HubContext
from hub.settings import Settings
from tests import file_samples as samples
from tests.browser import signed_in
from tests.fcm_standin import FcmStandIn
from tests.files_support import run_worker
from tests.model_standin import ModelStandIn, answer_tokens
from tests.tutor_support import tutor_settings, tutor_worker
from tests.web_support import ADMIN, STUDENTS, TEACHER, answer_dialog, open_conversation, payload
from tests.whisper_tiny import build

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[ModelStandIn]:
    server = await ModelStandIn(token_interval_s=0.01, tokens=30).start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def worker(standin: ModelStandIn, settings: Settings) -> AsyncIterator[Worker]:
    # One request at a time per model server: a second asker waits in line, told where.
    tuned = tutor_settings(settings, standin.base_url, tutor_server_concurrency=1)
    async with tutor_worker(tuned) as running:
        yield running


@pytest.fixture
def tutored(
    school: str, hub_ctx: HubContext, settings: Settings, standin: ModelStandIn, worker: Worker
) -> Iterator[str]:
    """The demo school on the in-process hub, its tutor pointed at the stand-in."""
    standin.reset()
    hub_ctx.settings = tutor_settings(settings, standin.base_url)
    yield school
    hub_ctx.settings = settings


# Every text the live answer showed, recorded by the page itself (a MutationObserver), so a
# duplicated or jumbled piece shown for a moment is caught as well as the final text.
_WATCH_LIVE = """() => {
    window.__shown = [];
    new MutationObserver(() => {
        const el = document.querySelector('.tutor-live .text');
        if (el) window.__shown.push(el.textContent);
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


async def live_text(page: Page, at_least: int) -> str:
    """The live answer's text once it holds at least `at_least` characters."""
    await page.wait_for_function(
        "n => (document.querySelector('.tutor-live .text')?.textContent || '').length >= n",
        arg=at_least,
    )
    return str(await page.locator(".tutor-live .text").text_content())


async def ask(page: Page, question: str) -> None:
    await page.fill("#tutor-question", question)
    await page.press("#tutor-question", "Enter")
    await expect(page.locator(".msg.mine .text").last).to_have_text(question)


async def test_tutor_answer_grows_and_survives_a_reload_without_duplicates(
    browser: Browser, tutored: str
) -> None:
    """The answer grows as it streams; reloaded midway, the page shows all so far, then the rest."""
    expected = "".join(answer_tokens(160))
    ctx, page = await signed_in(browser, tutored, STUDENTS[0], phone=True)
    try:
        await page.click("[data-nav=tutor]")
        await expect(page.get_by_text("No questions yet. Ask anything.")).to_be_visible()
        await ask(page, "근의 공식을 설명해 주세요 #tokens=160 #every=0.03")
        first = await live_text(page, 12)
        later = await live_text(page, len(first) + 9)
        assert expected.startswith(first) and expected.startswith(later)
        before_reload = await live_text(page, 60)
        await page.reload()
        await page.wait_for_selector("nav.nav")
        await page.evaluate(_WATCH_LIVE)
        resumed = await live_text(page, len(before_reload))
        assert expected.startswith(resumed)
        await expect(page.locator(".tutor-answer .text")).to_have_text(expected, timeout=20_000)
        await expect(page.locator(".tutor-live")).to_have_count(0)
        shown = await page.evaluate("window.__shown")
        assert shown and all(expected.startswith(text) for text in shown)
        assert any(len(text) < len(expected) for text in shown)  # it was still growing
        await page.click("[data-nav=chats]")
        listed = page.locator(".conv[href='#/tutor']")
        await expect(listed.locator(".conv-last")).to_have_text(expected)
        await listed.click()
        await expect(page.locator(".tutor-answer .text")).to_have_text(expected)
    finally:
        await ctx.close()


async def test_tutor_stop_and_the_queue_position(browser: Browser, tutored: str) -> None:
    """A second student waits in line (told their place) until the first presses Stop."""
    one_ctx, one = await signed_in(browser, tutored, STUDENTS[0])
    two_ctx, two = await signed_in(browser, tutored, STUDENTS[1], phone=True)
    try:
        for page in (one, two):
            await page.click("[data-nav=tutor]")
        await ask(one, "판별식이 뭐예요? #tokens=400 #every=0.05")
        await live_text(one, 5)
        await ask(two, "이차방정식 #tokens=12")
        await expect(two.locator(".tutor-live .queued")).to_have_text("Waiting: number 1 in line")
        await one.get_by_role("button", name="Stop").click()
        await expect(one.locator(".tutor-note[data-status=cancelled]")).to_have_text(
            "You stopped the answer"
        )
        stopped = str(await one.locator(".tutor-answer .text").last.text_content())
        assert stopped and "".join(answer_tokens(400)).startswith(stopped)
        await expect(one.get_by_role("button", name="Ask")).to_be_visible()
        await expect(two.locator(".tutor-answer .text")).to_have_text("".join(answer_tokens(12)))
    finally:
        await one_ctx.close()
        await two_ctx.close()


async def test_tutor_says_why_it_cannot_answer(browser: Browser, school: str) -> None:
    """Without a model server the student reads that the tutor is not configured, in Korean too."""
    ctx, page = await signed_in(browser, school, STUDENTS[2], lang="ko")
    try:
        await page.click("[data-nav=tutor]")
        await page.fill("#tutor-question", "질문 있어요")
        await page.press("#tutor-question", "Enter")
        await expect(page.get_by_role("alert")).to_have_text(
            "이 서버에는 AI 튜터가 설정되어 있지 않습니다"
        )
    finally:
        await ctx.close()


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    """The worker's push goes to a local FCM stand-in (nobody here has a device anyway)."""
    standin = FcmStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Whisper model (the words are meaningless, the pipeline is real)."""
    return build(tmp_path_factory.mktemp("whisper-tiny"))


@pytest.fixture
def transcribing(school: str, hub_ctx: HubContext, tiny_whisper: Path) -> Iterator[str]:
    original = hub_ctx.settings
    hub_ctx.settings = original.model_copy(
        update={"whisper_model": str(tiny_whisper), "whisper_device": "cpu"}
    )
    yield school
    hub_ctx.settings = original


def noisy_png(side: int = 360) -> bytes:
    """A photo-sized PNG (random pixels do not compress): a few hundred KB to upload."""
    rng = random.Random(7)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# Every value the upload's progress bar took, recorded by the page.
_WATCH_PROGRESS = """() => {
    window.__progress = [];
    new MutationObserver(() => {
        const bars = document.querySelectorAll('.uploads progress');
        for (const bar of bars) window.__progress.push(bar.value);
    }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


async def test_photo_and_document_upload_with_progress_then_thumbnail_and_download(
    browser: Browser, school: str, hub_ctx: HubContext, worker_ctx: dict[str, Any]
) -> None:
    """The bar moves while a photo uploads; checked by the worker, the teacher sees its
    thumbnail and downloads the PDF; a file with a virus signature is refused with its reason."""
    s_ctx, student = await signed_in(browser, school, STUDENTS[0], phone=True)
    t_ctx, teacher = await signed_in(browser, school, TEACHER)
    try:
        await open_conversation(student, "김선생 (Ms. Kim)")
        await open_conversation(teacher, "이민준 (Minjun Lee)")
        # Slow the student's uploads (DevTools network emulation) so progress can be seen.
        cdp = await s_ctx.new_cdp_session(student)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 200_000},
        )
        await student.evaluate(_WATCH_PROGRESS)
        photo = noisy_png()
        await student.set_input_files(
            "#attach-input",
            files=[
                payload("칠판.png", "image/png", photo),
                payload("숙제.pdf", "application/pdf", samples.pdf()),
            ],
        )
        ready = student.locator(".uploads li[data-upload-state=ready]")
        await expect(ready).to_have_count(2, timeout=20_000)
        progress = await student.evaluate("window.__progress")
        assert any(0 < value < 100 for value in progress), progress
        await cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        await student.fill("#composer-text", "숙제 사진이에요")
        await student.press("#composer-text", "Enter")
        sent = teacher.locator(".msg", has_text="숙제 사진이에요")
        await expect(sent.locator("[data-file-state=pending]")).to_have_count(2)
        await run_worker(hub_ctx, worker_ctx)
        image = sent.locator("img[alt='칠판.png']")
        await expect(image).to_be_visible()
        await teacher.wait_for_function(
            "el => el.complete && el.naturalWidth > 0", arg=await image.element_handle()
        )
        assert await image.evaluate("el => el.naturalWidth") == 320  # the worker's thumbnail
        async with teacher.expect_download() as download:
            await sent.get_by_role("link", name="숙제.pdf").click()
        assert (await download.value).suggested_filename == "숙제.pdf"
        await expect(student.locator(".msg.mine img[alt='칠판.png']")).to_be_visible()

        await student.set_input_files(
            "#attach-input",
            files=[payload("virus.txt", "text/plain", samples.eicar())],
        )
        await expect(student.get_by_role("alert")).to_contain_text("virus.txt was refused")
    finally:
        await s_ctx.close()
        await t_ctx.close()


async def test_voice_message_is_recorded_played_and_transcribed(
    browser: Browser, transcribing: str, hub_ctx: HubContext, worker_ctx: dict[str, Any]
) -> None:
    """The fake microphone records a voice message; the teacher gets a player, then the
    transcript when the worker has transcribed it."""
    s_ctx, student = await signed_in(browser, transcribing, STUDENTS[0])
    t_ctx, teacher = await signed_in(browser, transcribing, TEACHER)
    try:
        await open_conversation(student, "김선생 (Ms. Kim)")
        await open_conversation(teacher, "이민준 (Minjun Lee)")
        await student.get_by_role("button", name="Record a voice message").click()
        stop = student.get_by_role("button", name="Stop and send")
        await expect(stop).to_be_visible()
        # The recording's length is time passing, not an event to wait for.
        await student.wait_for_timeout(1500)
        await stop.click()
        voice = teacher.locator(".msg:not(.mine)").last
        await expect(voice.locator("[data-file-state=pending]")).to_have_count(1)
        await run_worker(hub_ctx, worker_ctx)
        player = voice.locator("audio")
        await expect(player).to_have_attribute("src", re.compile("/api/v1/files/"))
        await teacher.wait_for_function(
            "el => el.readyState >= 1 && el.duration > 0.5", arg=await player.element_handle()
        )
        await expect(voice.locator("[data-transcript]")).to_be_visible()
    finally:
        await s_ctx.close()
        await t_ctx.close()


async def test_admin_settles_a_report_from_the_queue(browser: Browser, school: str) -> None:
    """A student reports a message; the admin reads it in context and deletes it for everyone."""
    s_ctx, student = await signed_in(browser, school, STUDENTS[0], phone=True)
    a_ctx, admin = await signed_in(browser, school, ADMIN)
    try:
        await open_conversation(student, "김선생 (Ms. Kim)")
        theirs = student.locator(".msg:not(.mine)").last
        reported = str(await theirs.locator(".text").text_content())
        await theirs.get_by_role("button", name="Message actions").click()
        await theirs.get_by_role("button", name="Report").click()
        await theirs.get_by_label("Why are you reporting this message?").fill("무례한 말")
        await theirs.locator(".report-form button[type=submit]").click()
        await expect(theirs.locator(".msg-status")).to_have_text("Reported")

        await admin.click("[data-nav=admin]")
        report = admin.get_by_role("listitem", name="Report: 무례한 말")
        await expect(report.locator(".context .reported")).to_contain_text(reported)
        await expect(report.locator(".context li")).to_have_count(4)  # three before it
        await report.get_by_role("button", name="Delete message").click()
        await answer_dialog(admin, "Delete the reported message for everyone?", "Delete message")
        await expect(admin.get_by_text("No reports")).to_be_visible()
        await expect(student.locator(".msg .bubble em").last).to_have_text(
            "This message was deleted"
        )
        await admin.get_by_label("Show").select_option("resolved")
        await expect(report).to_contain_text("Message deleted")
    finally:
        await s_ctx.close()
        await a_ctx.close()


async def test_admin_invites_with_a_code_revokes_one_and_imports_a_roster(
    browser: Browser, school: str
) -> None:
    """A newcomer joins the class with the admin's code; a revoked code is refused; a roster
    makes accounts with first passwords, and a bad file names its bad line."""
    async with httpx.AsyncClient(base_url=school + "/api/v1") as web:
        made = await web.post(
            "/auth/register",
            json={
                "email": "newkid@example.kr",
                "password": "new-kid-pass-1",
                "display_name": "새친구",
                "consents": [
                    {"kind": kind, "version": "2026-01", "granted": True}
                    for kind in ("terms_of_service", "privacy_policy", "data_processing")
                ],
            },
        )
        assert made.status_code == 202, made.text
    a_ctx, admin = await signed_in(browser, school, ADMIN)
    n_ctx, newcomer = await signed_in(
        browser, school, "newkid@example.kr", password="new-kid-pass-1", phone=True
    )
    try:
        await admin.click("[data-nav=admin]")
        await admin.get_by_label("Class", exact=True).first.select_option(label="3학년 1반")
        await admin.get_by_role("button", name="Make a code").click()
        await expect(admin.locator(".invite-status")).to_contain_text("New code: ")
        code = str(await admin.locator(".invite-status").text_content()).split(": ")[1]
        row = admin.locator(f"tr[data-code='{code}']")
        await expect(row).to_have_attribute("data-state", "active")
        await expect(row.locator("td").nth(2)).to_have_text("3학년 1반")

        await expect(newcomer.locator("[data-nav=tutor]")).to_have_count(0)
        await newcomer.click("[data-nav=settings]")
        await newcomer.get_by_label("Invitation code").fill(f" {code[:5].lower()}-{code[5:]} ")
        await newcomer.get_by_role("button", name="Join").click()
        await expect(newcomer.get_by_role("status")).to_have_text("You joined as Student")
        await expect(newcomer.locator("[data-nav=tutor]")).to_have_count(1)

        await admin.get_by_label("Uses allowed").fill("5")
        await admin.get_by_role("button", name="Make a code").click()
        await expect(admin.locator(".invite-status")).not_to_contain_text(code)
        second = str(await admin.locator(".invite-status").text_content()).split(": ")[1]
        await (
            admin.locator(f"tr[data-code='{second}']").get_by_role("button", name="Revoke").click()
        )
        await answer_dialog(admin, f"Revoke the code {second}?", "Revoke")
        await expect(admin.locator(f"tr[data-code='{second}']")).to_have_attribute(
            "data-state", "revoked"
        )
        await newcomer.get_by_label("Invitation code").fill(second)
        await newcomer.get_by_role("button", name="Join").click()
        await expect(newcomer.get_by_role("alert")).to_have_text(
            "This code cannot be used (expired, revoked or used up)"
        )

        csv = admin.get_by_label("CSV text (role,name,email,student_email,language)")
        await csv.fill(
            "role,name,email,student_email\nstudent,새학생,fresh@example.kr,\nparent,새보호자"
        )
        await admin.get_by_role("button", name="Import").click()
        await expect(admin.locator("[role=alert] li")).to_contain_text(["line 3:"])
        await csv.fill(
            "role,name,email,student_email\nstudent,새학생,fresh@example.kr,\n"
            "parent,새보호자,fresh.parent@example.kr,fresh@example.kr"
        )
        await admin.get_by_role("button", name="Import").click()
        result = admin.locator(".roster-result")
        await expect(result.locator("p")).to_have_text("2 accounts made, 0 skipped, 1 parent links")
        await expect(result.locator("tbody tr")).to_have_count(2)
        password = str(await result.locator("tbody tr code").first.text_content())
        assert len(password) >= 8
    finally:
        await a_ctx.close()
        await n_ctx.close()


async def test_tutor_drops_a_filtered_attempt_and_names_a_model_failure(
    browser: Browser, tutored: str
) -> None:
    """A harmful phrase never shows (the attempt is dropped, the next one answers); a model
    server answering 500 ends with the reason shown."""
    ctx, page = await signed_in(browser, tutored, STUDENTS[0])
    try:
        await page.click("[data-nav=tutor]")
        await page.evaluate(_WATCH_LIVE)
        await ask(page, "근의 공식 #harmful")
        answer = page.locator(".tutor-answer .text")
        await expect(answer).to_have_count(1, timeout=20_000)
        final = str(await answer.text_content())
        shown = await page.evaluate("window.__shown")
        assert final and all("bo" + "mb" not in text and "make a" not in text for text in shown)
        assert "bo" + "mb" not in final

        await ask(page, "판별식 #500")
        await expect(page.get_by_role("alert")).to_have_text(
            "The AI model server cannot be reached", timeout=20_000
        )
        await expect(page.locator(".tutor-note[data-status=error]")).to_have_text(
            "The tutor could not answer"
        )
    finally:
        await ctx.close()


async def test_in_page_dialog_is_labelled_and_works_from_the_keyboard(
    browser: Browser, school: str
) -> None:
    """The delete confirmation is a labelled modal: focus on its button, Escape cancels,
    Enter confirms."""
    ctx, page = await signed_in(browser, school, STUDENTS[1])
    try:
        await open_conversation(page, "3학년 1반 대화방")
        await page.fill("#composer-text", "잘못 보낸 메시지")
        await page.press("#composer-text", "Enter")
        mine = page.locator(".msg.mine[data-seq]", has_text="잘못 보낸 메시지")
        for key in ("Escape", "Enter"):
            await mine.get_by_role("button", name="Message actions").click()
            await mine.get_by_role("button", name="Delete").click()
            dialog = page.get_by_role("dialog", name="Delete this message?")
            await expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
            await page.keyboard.press(key)
            await expect(dialog).to_have_count(0)
            if key == "Escape":
                await expect(mine.locator(".text")).to_have_text("잘못 보낸 메시지")
        await expect(mine).to_have_count(0)
        await expect(page.locator(".msg .bubble em").last).to_have_text("This message was deleted")
    finally:
        await ctx.close()


def test_the_app_policy_lets_images_and_audio_come_from_the_s3_bucket() -> None:
    """Signed S3 URLs are another origin: img-src and media-src name it, nothing else does."""
    local = Settings(file_storage="local")
    assert app_csp(local) == APP_CSP and "img-src 'self' data: blob:;" in APP_CSP
    minio = app_csp(Settings(file_storage="s3", s3_endpoint_url="http://127.0.0.1:9000/x"))
    assert "img-src 'self' http://127.0.0.1:9000 data: blob:;" in minio
    assert "media-src 'self' http://127.0.0.1:9000 blob:;" in minio
    assert "connect-src 'self';" in minio and "script-src 'self';" in minio
    aws = app_csp(Settings(file_storage="s3"))
    assert "img-src 'self' https://*.amazonaws.com data: blob:;" in aws


async def test_admin_turns_the_tutor_off_and_the_student_is_told(
    browser: Browser, tutored: str
) -> None:
    """The school's switch in the admin screen; the student's next question gets the reason."""
    a_ctx, admin = await signed_in(browser, tutored, ADMIN)
    s_ctx, student = await signed_in(browser, tutored, STUDENTS[2], phone=True)
    try:
        await admin.click("[data-nav=admin]")
        switch = admin.get_by_label("AI tutor on")
        await expect(switch).to_be_checked()
        await switch.uncheck()
        await admin.get_by_label("Grade (level of the answers)").fill("중학교 3학년")
        await admin.locator("form[aria-labelledby=tutor-settings-h] button[type=submit]").click()
        await expect(admin.locator(".tutor-settings-status")).to_have_text("Saved")
        await student.click("[data-nav=tutor]")
        await student.fill("#tutor-question", "질문이요")
        await student.press("#tutor-question", "Enter")
        await expect(student.get_by_role("alert")).to_have_text(
            "Your school has turned the AI tutor off"
        )
        await admin.reload()
        await expect(admin.get_by_label("AI tutor on")).not_to_be_checked()
        await expect(admin.get_by_label("Grade (level of the answers)")).to_have_value(
            "중학교 3학년"
        )
    finally:
        await a_ctx.close()
        await s_ctx.close()
