"""Driving Debian's Chromium with Playwright (its own browser downloads are not reachable)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from hub.seed import DEMO_PASSWORD
from tests.programs import require_program

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # A fake microphone that plays a tone, allowed without asking (voice messages).
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# Debian's /usr/bin/chromium is a shell wrapper; the binary itself is beside its libraries.
_BINARY = "/usr/lib/chromium/chromium"


def chromium_path() -> str:
    wrapper = require_program("chromium", "chromium")
    return _BINARY if os.access(_BINARY, os.X_OK) else wrapper


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(
    browser: Browser,
    base: str,
    email: str,
    *,
    phone: bool = False,
    lang: str = "en",
    password: str = DEMO_PASSWORD,
) -> tuple[BrowserContext, Page]:
    """A fresh browser context (its own session storage) logged in through the login page."""
    context = await browser.new_context(
        viewport=PHONE if phone else DESKTOP, locale="ko-KR" if lang == "ko" else "en-GB"
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.add_init_script(f"localStorage.setItem('dreamseed.lang', '{lang}')")
    await page.goto(base + "/")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("form button[type=submit]")
    await page.wait_for_selector("nav.nav")
    return context, page
