"""Screenshots of the web client's AI tutor pane and a chat with attachments (README).

Runs everything in this process on loopback: a fresh database (on the PostgreSQL named by
--owner-dsn) with the demo school, the hub under uvicorn, the stand-in model server
(tests/model_standin.py) and the real tutor worker, and the file worker's jobs in burst mode;
then Debian's Chromium (a fake microphone for the voice message) at phone and desktop sizes.

    .venv/bin/python loadtest/feature_shots.py \\
        --owner-dsn postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis-url redis://127.0.0.1:6379/0 --out docs/screenshots
"""

from __future__ import annotations

import argparse
import asyncio
import io
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from arq.connections import RedisSettings
from PIL import Image, ImageDraw
from playwright.async_api import Browser, Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seed import create_database, drop_database

from api.app import create_app
from hub.context import HubContext
from hub.notify.email import EmailSender
from hub.seed import seed_demo
from hub.settings import Settings
from tests import file_samples as samples
from tests.browser import DESKTOP, FLAGS, PHONE, chromium_path, signed_in
from tests.burst import run_burst
from tests.model_standin import ModelStandIn
from tests.tutor_support import tutor_settings, tutor_worker
from tests.web_support import payload


def blackboard() -> bytes:
    """A drawn photo of a blackboard (something to look at in a thumbnail)."""
    image = Image.new("RGB", (960, 640), (34, 76, 58))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 600, 960, 640), fill=(120, 84, 50))
    for i, y in enumerate(range(90, 520, 90)):
        draw.line((80, y, 880 - 60 * i, y), fill=(235, 235, 220), width=6)
    draw.ellipse((640, 120, 860, 340), outline=(250, 220, 90), width=8)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def shot(page: Page, out: Path, name: str) -> None:
    await page.wait_for_timeout(300)  # let the last frame paint
    await page.screenshot(path=str(out / f"{name}.png"))
    print("saved", name)


async def tutor_shots(browser: Browser, base: str, out: Path) -> None:
    for viewport, lang, name in (
        (PHONE, "ko", "tutor-phone-ko"),
        (DESKTOP, "en", "tutor-desktop-en"),
    ):
        ctx, page = await signed_in(
            browser, base, "student1@demo.dreamseed.kr", lang=lang, phone=viewport is PHONE
        )
        await page.click("[data-nav=tutor]")
        questions = (
            ["근의 공식이 뭐예요?", "판별식은 어떻게 써요?"]
            if lang == "ko"
            else ["What is the quadratic formula?", "And the discriminant?"]
        )
        for n, question in enumerate(questions):
            await page.fill("#tutor-question", question)
            await page.press("#tutor-question", "Enter")
            if n == 0:
                await page.wait_for_selector(".tutor-answer >> nth=0", timeout=30_000)
        await page.wait_for_function(
            "() => (document.querySelector('.tutor-live .text')?.textContent || '').length > 70",
            timeout=30_000,
        )
        await shot(page, out, name)
        await page.get_by_role("button", name="멈추기" if lang == "ko" else "Stop").click()
        await ctx.close()


async def attachment_shots(browser: Browser, base: str, hub: HubContext, out: Path) -> None:
    s_ctx, student = await signed_in(
        browser, base, "student1@demo.dreamseed.kr", phone=True, lang="en"
    )
    t_ctx, teacher = await signed_in(browser, base, "teacher@demo.dreamseed.kr", lang="ko")
    for page, title in ((student, "김선생"), (teacher, "이민준")):
        await page.locator(".conv", has_text=title).first.click()
        await page.wait_for_selector(".msg")
    await student.set_input_files(
        "#attach-input",
        files=[payload("blackboard.jpg", "image/jpeg", blackboard())],
    )
    await student.wait_for_selector(".uploads li[data-upload-state=ready]")
    await student.fill("#composer-text", "Today's board")
    await student.press("#composer-text", "Enter")
    await student.set_input_files(
        "#attach-input",
        files=[payload("worksheet.pdf", "application/pdf", samples.pdf())],
    )
    await student.wait_for_selector(".uploads li[data-upload-state=ready]")
    await student.press("#composer-text", "Enter")
    await student.click("button[aria-label='Record a voice message']")
    await student.wait_for_timeout(2000)  # two seconds of the fake microphone's tone
    await student.get_by_role("button", name="Stop and send").click()
    await teacher.wait_for_selector(".msg [data-file-state=pending]")
    await teacher.wait_for_timeout(500)
    ctx = {"hub": hub, "push": None, "email": EmailSender(None, 25), "job_try": 1}
    await run_burst(RedisSettings.from_dsn(hub.settings.redis_dsn), hub.keys.job_queue, ctx)
    await teacher.wait_for_selector(".msg img[alt='blackboard.jpg']")
    await teacher.wait_for_selector(".msg audio")
    await teacher.fill("#composer-text", "잘 봤어요. 내일 같이 풀어 봐요!")
    await teacher.press("#composer-text", "Enter")
    await shot(teacher, out, "chat-attachments-desktop-ko")
    await student.wait_for_selector(".msg img[alt='blackboard.jpg']")
    await student.set_input_files(
        "#attach-input",
        files=[payload("virus.txt", "text/plain", samples.eicar())],
    )
    await student.wait_for_selector(".uploads [role=alert]")
    await shot(student, out, "chat-attachments-phone-en")
    await s_ctx.close()
    await t_ctx.close()


async def admin_shots(browser: Browser, base: str, out: Path) -> None:
    s_ctx, student = await signed_in(browser, base, "student2@demo.dreamseed.kr", lang="en")
    await student.locator(".conv", has_text="대화방").first.click()
    theirs = student.locator(".msg:not(.mine)").last
    await theirs.get_by_role("button", name="Message actions").click()
    await theirs.get_by_role("button", name="Report").click()
    await theirs.get_by_label("Why are you reporting this message?").fill("Rude to a classmate")
    await theirs.locator(".report-form button[type=submit]").click()
    await theirs.locator(".msg-status").wait_for()
    await s_ctx.close()
    a_ctx, admin = await signed_in(browser, base, "admin@demo.dreamseed.kr", lang="en")
    await admin.click("[data-nav=admin]")
    await admin.get_by_role("button", name="Make a code").click()
    await admin.locator(".invite-status").wait_for()
    await admin.locator("#reports-h").scroll_into_view_if_needed()
    await shot(admin, out, "admin-reports-desktop-en")
    await admin.locator(".report").get_by_role("button", name="Delete message").click()
    await shot(admin, out, "admin-dialog-desktop-en")
    await a_ctx.close()


async def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    name = f"shots_{secrets.token_hex(4)}"
    dsn = await create_database(args.owner_dsn, name)
    standin = await ModelStandIn(token_interval_s=0.06, tokens=90).start()
    try:
        with tempfile.TemporaryDirectory() as data:
            base_settings = Settings(
                data_dir=Path(data),
                database_url=dsn,
                redis_url=args.redis_url,
                jwt_secret=secrets.token_urlsafe(40),
                redis_namespace=f"shots{secrets.token_hex(3)}",
                log_level="warning",
                whisper_model="",
            )
            settings = tutor_settings(base_settings, standin.base_url)
            app: Any = create_app(settings)
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
            )
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
            base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            hub: HubContext = app.other_asgi_app.state.ctx
            await seed_demo(hub.db)
            try:
                async with tutor_worker(settings), async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=chromium_path(), args=FLAGS)
                    try:
                        await tutor_shots(browser, base, out)
                        await attachment_shots(browser, base, hub, out)
                        await admin_shots(browser, base, out)
                    finally:
                        await browser.close()
            finally:
                server.should_exit = True
                await task
    finally:
        await standin.stop()
        await drop_database(args.owner_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owner-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", default="docs/screenshots")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
