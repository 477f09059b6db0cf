"""Web client benchmark in Debian's Chromium, and the README's screenshots.

Starts its own hub (a fresh database on the PostgreSQL named by --owner-dsn, a random Redis
namespace, the demo school seeded, one uvicorn process) and measures, on loopback:

* first load: bytes transferred (compressed) for the login page and everything it loads, and
  the time until the login form is interactive; then the signed-in app until its
  conversation list is on screen;
* history: a conversation of --messages messages (10,000 by default, inserted in bulk),
  scrolled from the newest to the first with the mouse wheel, loading older pages as a user
  would; frame times come from requestAnimationFrame in the page (performance.now()), long
  tasks from the PerformanceObserver; it reports how many messages are in the DOM at the end.

With --screenshots DIR it also saves the main screens at phone and desktop sizes.

    .venv/bin/python loadtest/web_bench.py \\
        --owner-dsn postgresql://postgres@127.0.0.1:5432/postgres --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import Browser, Page, ViewportSize, async_playwright
from seed import create_database, drop_database, require_local

from hub.chat import search
from hub.db import Database
from hub.seed import DEMO_PASSWORD, seed_demo

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
BIG_TITLE = "history bench"

ROOT = Path(__file__).resolve().parents[1]
_FRAMES = """() => {
    window.__frames = []; window.__long = [];
    let last = performance.now();
    const tick = (now) => {
        window.__frames.push(now - last); last = now; window.__raf = requestAnimationFrame(tick);
    };
    window.__raf = requestAnimationFrame(tick);
    new PerformanceObserver((l) => {
        for (const e of l.getEntries()) window.__long.push(e.duration);
    }).observe({ type: "longtask", buffered: false });
}"""
_HIDE = """() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chromium() -> str:
    for path in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if os.access(path, os.X_OK):
            return path
    raise SystemExit("web_bench: Chromium is missing (apt-get install chromium fonts-noto-cjk)")


async def _big_conversation(dsn: str, count: int) -> UUID:
    """A group of the demo teacher and students with `count` messages, inserted in bulk."""
    conn = await asyncpg.connect(dsn)
    try:
        org = await conn.fetchrow(
            "SELECT id, zone_id FROM organizations WHERE settings->>'demo' = 'true'"
        )
        assert org is not None, "the demo school was not seeded"
        people = await conn.fetch(
            """SELECT u.id, u.email FROM users u JOIN memberships m ON m.user_id = u.id
               WHERE m.org_id = $1 AND m.role IN ('teacher', 'student') ORDER BY u.email""",
            org["id"],
        )
        teacher = next(p["id"] for p in people if p["email"].startswith("teacher"))
        cid: UUID = await conn.fetchval(
            """INSERT INTO conversations (zone_id, org_id, kind, title, created_by, last_seq,
                                          change_seq, last_message_at)
               VALUES ($1, $2, 'group', $3, $4, $5, $5, now()) RETURNING id""",
            org["zone_id"],
            org["id"],
            BIG_TITLE,
            teacher,
            count,
        )
        await conn.executemany(
            """INSERT INTO participants (conversation_id, user_id, zone_id, org_id, role,
                                         last_read_seq) VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (
                    cid,
                    p["id"],
                    org["zone_id"],
                    org["id"],
                    "admin" if p["id"] == teacher else "member",
                    count,
                )
                for p in people
            ],
        )
        rows = []
        for seq in range(1, count + 1):
            sender = people[seq % len(people)]["id"]
            text = f"메시지 {seq}: " + (
                "짧은 글" if seq % 3 else "조금 더 긴 메시지입니다. " * (1 + seq % 5)
            )
            rows.append(
                (
                    cid,
                    org["zone_id"],
                    org["id"],
                    seq,
                    sender,
                    f"bench-{seq}",
                    text,
                    search.tokens(text),
                    count - seq,
                )
            )
        await conn.executemany(
            """INSERT INTO messages (conversation_id, zone_id, org_id, seq, change_seq, sender_id,
                                     client_msg_id, content, search_tokens, created_at)
               VALUES ($1, $2, $3, $4, $4, $5, $6, $7, array_to_tsvector($8::text[]),
                       now() - make_interval(secs => $9))""",
            rows,
        )
        return cid
    finally:
        await conn.close()


async def _wait_ready(base: str) -> None:
    async with httpx.AsyncClient(timeout=1) as client:
        for _ in range(600):
            try:
                if (await client.get(base + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("web_bench: the hub did not become ready")


async def _sit_exams(base: str) -> None:
    """The demo students sit the CBT form (some answers wrong), so dashboards have data."""
    async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=10) as client:
        for n, email in enumerate(f"student{k}@demo.dreamseed.kr" for k in (1, 3)):
            login = await client.post(
                "/auth/login", json={"email": email, "password": DEMO_PASSWORD}
            )
            headers = {"authorization": f"Bearer {login.json()['access_token']}"}
            exams = (await client.get("/exams", headers=headers)).json()["items"]
            cbt = next(e for e in exams if e["mode"] == "cbt")
            attempt = (await client.post(f"/exams/{cbt['id']}/attempts", headers=headers)).json()
            while attempt["status"] == "active" and attempt["questions"]:
                q = attempt["questions"][0]
                body = {"item_id": q["item_id"], "choice": (q["position"] * (n + 1)) % 4}
                answer = await client.post(
                    f"/attempts/{attempt['id']}/answers", json=body, headers=headers
                )
                attempt = answer.json()["attempt"]


async def _login(page: Page, base: str, email: str) -> None:
    await page.goto(base + "/")
    await page.fill("#email", email)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("form button[type=submit]")
    await page.wait_for_selector(".conv")


async def first_load(browser: Browser, base: str) -> dict[str, Any]:
    ctx = await browser.new_context(viewport=DESKTOP)
    page = await ctx.new_page()
    cdp = await ctx.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    received: dict[str, int] = {}
    cdp.on(
        "Network.loadingFinished",
        lambda e: received.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )
    started = time.perf_counter()
    await page.goto(base + "/")
    await page.wait_for_selector("#email:not([disabled])")
    interactive_wall_ms = (time.perf_counter() - started) * 1000
    in_page = await page.evaluate(
        """() => { const n = performance.getEntriesByType('navigation')[0];
                   return { dom_interactive_ms: n.domInteractive, now_ms: performance.now() }; }"""
    )
    await page.wait_for_load_state("networkidle")
    login_bytes, login_requests = sum(received.values()), len(received)
    await page.fill("#email", "teacher@demo.dreamseed.kr")
    await page.fill("#password", DEMO_PASSWORD)
    t0 = time.perf_counter()
    await page.click("form button[type=submit]")
    await page.wait_for_selector(".conv")
    app_ms = (time.perf_counter() - t0) * 1000
    await ctx.close()
    return {
        "login_page_transferred_bytes": login_bytes,
        "login_page_requests": login_requests,
        "login_form_interactive_ms_wall": round(interactive_wall_ms, 1),
        "login_form_interactive_ms_in_page": round(in_page["now_ms"], 1),
        "dom_interactive_ms": round(in_page["dom_interactive_ms"], 1),
        "login_to_conversation_list_ms": round(app_ms, 1),
    }


async def scroll_history(browser: Browser, base: str, count: int) -> dict[str, Any]:
    ctx = await browser.new_context(viewport=DESKTOP)
    page = await ctx.new_page()
    await _login(page, base, "teacher@demo.dreamseed.kr")
    await page.locator(".conv", has_text=BIG_TITLE).click()
    await page.wait_for_selector(f'.msg[data-seq="{count}"]')
    await page.evaluate(_FRAMES)
    box = page.locator(".history")
    await box.hover()
    started = time.perf_counter()
    steps = 0
    while await page.locator('.msg[data-seq="1"]').count() == 0 and steps < 20_000:
        await page.mouse.wheel(0, -1500)
        await page.wait_for_timeout(16)
        steps += 1
    elapsed = time.perf_counter() - started
    frames: list[float] = await page.evaluate(
        "() => { cancelAnimationFrame(window.__raf); return window.__frames; }"
    )
    long_tasks: list[float] = await page.evaluate("() => window.__long")
    in_dom = await page.locator(".msg").count()
    loaded = await page.evaluate("() => document.querySelectorAll('.msg').length")
    await ctx.close()
    frames = frames[1:]
    frames.sort()

    def pick(q: float) -> float:
        return round(frames[min(len(frames) - 1, int(q * len(frames)))], 1)

    return {
        "messages": count,
        "reached_first_message": steps < 20_000,
        "wheel_steps": steps,
        "seconds": round(elapsed, 1),
        "frames": len(frames),
        "frame_ms_p50": pick(0.5),
        "frame_ms_p95": pick(0.95),
        "frame_ms_p99": pick(0.99),
        "frame_ms_max": round(frames[-1], 1) if frames else None,
        "frame_ms_mean": round(statistics.fmean(frames), 1) if frames else None,
        "frames_over_50ms": sum(1 for f in frames if f > 50),
        "long_tasks": len(long_tasks),
        "long_task_ms_max": round(max(long_tasks), 1) if long_tasks else 0,
        "messages_in_dom_at_end": max(in_dom, loaded),
    }


async def screenshots(browser: Browser, base: str, out: Path) -> list[str]:
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    saved = []

    async def shot(page: Page, name: str) -> None:
        await page.wait_for_timeout(300)
        path = out / f"{name}.png"
        await page.screenshot(path=str(path))
        saved.append(path.name)

    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for lang in ("ko", "en"):
            ctx = await browser.new_context(viewport=viewport, device_scale_factor=1)
            page = await ctx.new_page()
            await page.add_init_script(f"localStorage.setItem('dreamseed.lang', '{lang}')")
            await page.goto(base + "/")
            await page.wait_for_selector(".demo")
            if lang == "ko" or size == "desktop":
                await shot(page, f"login-{size}-{lang}")
            await page.fill("#email", "teacher@demo.dreamseed.kr")
            await page.fill("#password", DEMO_PASSWORD)
            await page.click("form button[type=submit]")
            await page.wait_for_selector(".conv")
            if size == "phone" and lang == "ko":
                await shot(page, "chats-phone-ko")
            await page.locator(".conv", has_text="이민준").click()
            await page.wait_for_selector(".msg")
            await shot(page, f"chat-{size}-{lang}")
            if size == "desktop" and lang == "ko":
                await page.locator(".conv", has_text="공지").click()
                mine = page.locator(".msg.mine").last
                await mine.get_by_role("button").last.click()
                await mine.locator(".msg-actions button").last.click()
                await page.wait_for_selector(".read-columns")
                await shot(page, "announcement-read-list-desktop-ko")
                await page.click("[data-nav=dashboard]")
                await page.wait_for_selector(".chart")
                await shot(page, "teacher-dashboard-desktop-ko")
            await ctx.close()
    ctx = await browser.new_context(viewport=PHONE)
    page = await ctx.new_page()
    await page.add_init_script("localStorage.setItem('dreamseed.lang', 'ko')")
    await _login(page, base, "student2@demo.dreamseed.kr")
    await page.click("[data-nav=exams]")
    await page.locator(".card", has_text="CBT").get_by_role("link").click()
    await page.get_by_role("button", name="시작하기").click()
    await page.wait_for_selector(".question")
    await shot(page, "exam-cbt-phone-ko")
    teacher = await browser.new_context(viewport=DESKTOP)
    tpage = await teacher.new_page()
    await tpage.add_init_script("localStorage.setItem('dreamseed.lang', 'en')")
    await _login(tpage, base, "teacher@demo.dreamseed.kr")
    await tpage.click("[data-nav=exams]")
    await tpage.locator(".card", has_text="CBT").get_by_role("link", name="Proctor").click()
    await tpage.wait_for_selector("tr[data-attempt]")
    await page.evaluate(_HIDE)
    await tpage.wait_for_selector(".flags li")
    await shot(tpage, "proctor-desktop-en")
    await teacher.close()
    await ctx.close()
    return saved


async def run(args: argparse.Namespace) -> dict[str, Any]:
    require_local(args.owner_dsn)
    name = f"webbench_{secrets.token_hex(4)}"
    dsn = await create_database(args.owner_dsn, name)
    namespace = f"webbench{secrets.token_hex(3)}"
    hub: subprocess.Popen[bytes] | None = None
    try:
        db = await Database.connect(dsn, "dreamseed_app", min_size=1, max_size=2)
        try:
            await seed_demo(db)
        finally:
            await db.close()
        await _big_conversation(dsn, args.messages)
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "REDIS_URL": args.redis_url,
            "REDIS_NAMESPACE": namespace,
            "JWT_SECRET": secrets.token_urlsafe(40),
            "RATE_LIMIT_PER_MINUTE": "60000",
            "LOG_LEVEL": "warning",
        }
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
            "--loop",
            "uvloop",
        ]
        hub = subprocess.Popen(cmd, env=env, cwd=ROOT)  # noqa: S603
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=_chromium(), args=FLAGS)
            try:
                result: dict[str, Any] = {"first_load": await first_load(browser, base)}
                result["first_load_again"] = await first_load(browser, base)
                result["history"] = await scroll_history(browser, base, args.messages)
                if args.screenshots:
                    await _sit_exams(base)
                    result["screenshots"] = await screenshots(browser, base, Path(args.screenshots))
            finally:
                await browser.close()
        return result
    finally:
        if hub is not None:
            hub.terminate()
            hub.wait(15)
        await drop_database(args.owner_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owner-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--screenshots", default=None, help="save the main screens here")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
