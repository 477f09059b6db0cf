"""What the browser tests share: the demo school's people and a few page gestures."""

from __future__ import annotations

from playwright.async_api import FilePayload, Page, expect

TEACHER = "teacher@demo.dreamseed.kr"
STUDENTS = [f"student{n}@demo.dreamseed.kr" for n in (1, 2, 3)]
PARENT = "parent@demo.dreamseed.kr"
ADMIN = "admin@demo.dreamseed.kr"


async def open_conversation(page: Page, title: str) -> None:
    await page.locator(".conv", has_text=title).first.click()
    await expect(page.locator(".conversation h2")).to_have_text(title)


async def answer_dialog(page: Page, question: str, button: str) -> None:
    """The in-page dialog asks `question`; press its `button`."""
    dialog = page.get_by_role("dialog", name=question)
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=button).click()
    await expect(dialog).to_have_count(0)


def payload(name: str, mime: str, data: bytes) -> FilePayload:
    """A file for `set_input_files`, as if picked from the disk."""
    return {"name": name, "mimeType": mime, "buffer": data}
