"""The hub serves the web client: pages with a strict CSP, gzip-compressed files, vendored
libraries exactly as recorded, the API docs, and the demo school's living conversations."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.context import HubContext
from hub.seed import seed_demo
from hub.settings import Settings

WEB = Path(__file__).resolve().parent.parent / "api" / "web"
FIRST_LOAD_LIMIT = 250 * 1024


def _vendored() -> list[tuple[str, str]]:
    rows = re.findall(
        r"^\| ([\w.-]+) \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| ([0-9a-f]{64}) \|$",
        (WEB / "VENDORED.md").read_text(),
        re.MULTILINE,
    )
    return [(name, digest) for name, digest in rows]


def test_every_vendored_file_matches_its_recorded_hash() -> None:
    """Each file in static/vendor is listed in VENDORED.md and has the sha256 recorded there."""
    recorded = dict(_vendored())
    present = {p.name for p in (WEB / "static" / "vendor").iterdir() if p.is_file()}
    assert present == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((WEB / "static" / "vendor" / name).read_bytes()).hexdigest() == digest


@pytest.fixture
async def web(hub_server: tuple[str, Any], clean: None) -> Any:
    async with httpx.AsyncClient(base_url=hub_server[0], timeout=10) as client:
        yield client


async def test_pages_carry_a_strict_content_security_policy(web: httpx.AsyncClient) -> None:
    """`/` and `/api/docs` allow scripts only from the hub, never inline."""
    for path in ("/", "/api/docs"):
        r = await web.get(path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        assert "frame-ancestors 'none'" in csp and r.headers["x-content-type-options"] == "nosniff"
    assert "/static/js/main.js" in (await web.get("/")).text
    assert "swagger-ui-bundle.js" in (await web.get("/api/docs")).text


async def test_static_files_are_gzipped_and_revalidated(web: httpx.AsyncClient) -> None:
    """A module comes gzip-compressed with an ETag; asking again with it gives 304."""
    r = await web.get("/static/js/chat.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith("text/javascript")
    again = await web.get("/static/js/chat.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    assert (await web.get("/static/../app.py")).status_code == 404
    assert (await web.get("/static/js/nothing.js")).status_code == 404


async def test_first_load_is_under_250_kb_compressed(web: httpx.AsyncClient) -> None:
    """The page, its stylesheet and every module it imports, gzipped, stay under 250 KB."""
    seen: set[str] = set()
    todo = ["/", "/static/app.css", "/static/js/main.js"]
    total = 0
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        r = await web.get(path, headers={"accept-encoding": "gzip"})
        assert r.status_code == 200, path
        total += int(r.headers["content-length"])
        if path.endswith(".js"):
            base = path.rsplit("/", 1)[0]
            for spec in re.findall(r"""(?:from|import)\s*\(?\s*["']([^"']+)["']""", r.text):
                todo.append(spec if spec.startswith("/") else _join(base, spec))
    assert "/static/vendor/socket.io.esm.min.js" in seen
    assert total <= FIRST_LOAD_LIMIT, total


def _join(base: str, spec: str) -> str:
    parts = base.split("/")
    for piece in spec.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


async def test_demo_logins_are_shown_only_while_the_demo_school_exists(
    web: httpx.AsyncClient, hub_ctx: HubContext
) -> None:
    """Without the demo school the login page lists nobody; seeded, it lists every demo user."""
    assert (await web.get("/web/config.json")).json() == {"demo": []}
    assert await seed_demo(hub_ctx.db)
    demo = (await web.get("/web/config.json")).json()["demo"]
    assert {"teacher@demo.dreamseed.kr", "student1@demo.dreamseed.kr"} <= {d["email"] for d in demo}


async def test_demo_school_has_living_conversations_seeded_once(
    web: httpx.AsyncClient, hub_ctx: HubContext
) -> None:
    """A class group, an announcement channel with one announcement, a teacher-student chat."""
    assert await seed_demo(hub_ctx.db)
    assert not await seed_demo(hub_ctx.db)
    login = await web.post(
        "/api/v1/auth/login",
        json={"email": "student1@demo.dreamseed.kr", "password": "dreamseed-demo"},
    )
    headers = {"authorization": f"Bearer {login.json()['access_token']}"}
    items = (await web.get("/api/v1/conversations", headers=headers)).json()["items"]
    kinds = sorted(c["kind"] for c in items)
    assert kinds == ["announcement", "direct", "group"]
    news = next(c for c in items if c["kind"] == "announcement")
    assert news["last_seq"] == 1 and news["last_message"]["ack_required"] is True
    direct = next(c for c in items if c["kind"] == "direct")
    assert direct["last_seq"] >= 3 and direct["unread_count"] == 1
    found = await web.get("/api/v1/search", params={"q": "현장학습"}, headers=headers)
    assert [h["message"]["conversation_id"] for h in found.json()["items"]] == [news["id"]]


def test_every_module_is_preloaded_by_the_page() -> None:
    """index.html names every module of the client, so the browser fetches them in parallel."""
    page = (WEB / "static" / "index.html").read_text()
    preloaded = set(re.findall(r'rel="modulepreload" href="/static/([^"]+)"', page))
    modules = {
        str(p.relative_to(WEB / "static"))
        for p in (WEB / "static" / "js").rglob("*.js")
        if p.name != "docs.js"
    }
    assert modules <= preloaded


def test_every_shown_string_exists_in_korean_and_english() -> None:
    """The two dictionaries have the same keys, and every literal key the client uses is there."""
    strings = (WEB / "static" / "js" / "strings.js").read_text()
    ko_part, en_part = strings.split("export const en")
    ko = set(re.findall(r'^\s*"([\w.]+)":', ko_part, re.MULTILINE))
    en = set(re.findall(r'^\s*"([\w.]+)":', en_part, re.MULTILINE))
    ko |= set(re.findall(r'"([\w.]+)": "', ko_part))
    en |= set(re.findall(r'"([\w.]+)": "', en_part))
    assert ko == en
    used = set()
    for module in (WEB / "static" / "js").rglob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', module.read_text()))
    assert used - ko == set()


async def test_socketio_accepts_its_own_origin_and_refuses_others(web: httpx.AsyncClient) -> None:
    """By default a browser on another site cannot open a Socket.IO session; ours and apps can."""
    handshake = "/socket.io/?EIO=4&transport=polling"
    own = str(web.base_url).rstrip("/")
    assert (await web.get(handshake, headers={"origin": own})).status_code == 200
    assert (await web.get(handshake)).status_code == 200  # mobile apps send no Origin
    foreign = await web.get(handshake, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 400


def test_allowed_origins_setting_reads_a_list_or_any() -> None:
    """Empty means the hub's own origin; a comma list is taken as given; `*` allows any."""
    assert Settings(socketio_allowed_origins="").socketio_origins is None
    assert Settings(socketio_allowed_origins="*").socketio_origins == "*"
    listed = Settings(socketio_allowed_origins="https://a.kr/, https://b.kr")
    assert listed.socketio_origins == ["https://a.kr", "https://b.kr"]
