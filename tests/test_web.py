"""The web client in a real Chromium against real hubs: every scenario opens two or more
browser contexts (separate people) and watches what each of them sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from hub.context import HubContext
from hub.seed import seed_demo
from tests.browser import chromium, signed_in

TEACHER = "teacher@demo.dreamseed.kr"
STUDENTS = [f"student{n}@demo.dreamseed.kr" for n in (1, 2, 3)]
PARENT = "parent@demo.dreamseed.kr"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
async def school(hub_server: tuple[str, Any], hub_ctx: HubContext, clean: None) -> str:
    """The demo school, freshly seeded; returns the hub's base URL."""
    assert await seed_demo(hub_ctx.db)
    return hub_server[0]


async def open_conversation(page: Page, title: str) -> None:
    await page.locator(".conv", has_text=title).first.click()
    await expect(page.locator(".conversation h2")).to_have_text(title)


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
    finally:
        await t_ctx.close()
        await s_ctx.close()
