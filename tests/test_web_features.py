"""The web client's AI tutor pane, attachments, administration and in-page dialogs, in a real
Chromium against the real hub (and the real tutor worker against the stand-in model server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from arq.worker import Worker
from playwright.async_api import Browser, Page, expect

from hub.context import HubContext
from hub.settings import Settings
from tests.browser import signed_in
from tests.model_standin import ModelStandIn, answer_tokens
from tests.tutor_support import tutor_settings, tutor_worker
from tests.web_support import STUDENTS

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
