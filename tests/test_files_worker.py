"""The worker's checks on real uploads: clean photos and thumbnails, a real clamd, scanner
outages, downloads (types, ranges, signed URLs) once a file is clean."""

from __future__ import annotations

import asyncio
import io
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from PIL import Image

from hub.context import HubContext
from hub.files import clamd, processing, releasing
from hub.files.storage import LocalStorage
from tests import file_samples as samples
from tests.files_support import run_worker, uploaded
from tests.programs import require_program
from tests.sockets import Client
from tests.support import Factory, FrozenClock, User, error_of

Connect = Callable[[User], Awaitable[Client]]
MARKER = b"DREAMSEEDTESTMALWAREMARKER"


@pytest.fixture(scope="module")
def clamd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real clamd (Debian's clamav-daemon) with one signature the test writes, on a unix
    socket; virus definitions cannot be downloaded here."""
    program = require_program("clamd", "clamav-daemon")
    folder = tmp_path_factory.mktemp("clamd")
    (folder / "dreamseed.ndb").write_text(f"DreamSeed.Test.Marker:0:*:{MARKER.hex()}\n")
    socket = folder / "clamd.sock"
    (folder / "clamd.conf").write_text(
        f"DatabaseDirectory {folder}\nLocalSocket {socket}\nForeground yes\n"
        "StreamMaxLength 20M\nLogTime no\n"
    )
    log = (folder / "clamd.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - the system's clamd with our config
        [program, "-c", str(folder / "clamd.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"unix://{socket}"
    deadline = time.monotonic() + 60
    while not asyncio.run(clamd.ping(url)):
        assert proc.poll() is None, (folder / "clamd.log").read_text()
        assert time.monotonic() < deadline, "clamd did not start"
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture
def scanning(hub_ctx: HubContext) -> Iterator[Callable[[str | None], None]]:
    """Point the running hub (and the worker sharing its context) at a clamd, for one test."""
    original = hub_ctx.settings

    def use(url: str | None, timeout_s: float = 5) -> None:
        hub_ctx.settings = original.model_copy(
            update={"clamd_url": url, "clamd_timeout_s": timeout_s}
        )

    yield use
    hub_ctx.settings = original


def _ctx(hub_ctx: HubContext) -> dict[str, Any]:
    return {"hub": hub_ctx}


async def test_a_photo_is_turned_upright_stripped_of_gps_and_thumbnailed(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """The worker applies EXIF orientation, drops EXIF (GPS), writes a 320 px WebP thumbnail,
    marks the file clean and tells the uploader (file.updated)."""
    org = await factory.org()
    student = await factory.user("student", org)
    me = await connect(student)
    photo = samples.jpeg_with_gps(width=800, height=400)
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)
    body = await uploaded(api, student, photo, "IMG_0001.JPG")
    pending = await api.get(f"/files/{body['id']}", headers=student.headers)
    assert pending.status_code == 409 and error_of(pending)["code"] == "file_not_ready"
    assert await run_worker(hub_ctx, _ctx(hub_ctx)) >= 1
    event = await me.next("file.updated")
    assert (event["id"], event["state"]) == (body["id"], "clean")
    assert (event["width"], event["height"]) == (400, 800)
    got = await api.get(f"/files/{body['id']}", headers=student.headers)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("inline;")
    image = Image.open(io.BytesIO(got.content))
    assert image.size == (400, 800)
    assert not image.getexif(), "EXIF (with GPS) must be gone"
    thumb = await api.get(event["thumbnail_url"].removeprefix("/api/v1"), headers=student.headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 320


async def test_a_heic_photo_becomes_a_jpeg_every_browser_shows(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """HEIC (iPhone) is recognised from its bytes, then converted to JPEG by the worker."""
    org = await factory.org()
    student = await factory.user("student", org)
    body = await uploaded(api, student, samples.heic(), "IMG_0002.HEIC")
    assert (body["type"], body["name"]) == ("image/heic", "IMG_0002.heic")
    await run_worker(hub_ctx, _ctx(hub_ctx))
    got = await api.get(f"/files/{body['id']}", headers=student.headers)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(got.content)).format == "JPEG"
    row = await factory.fetch("SELECT name, mime FROM files WHERE id = $1", UUID(body["id"]))
    assert (row[0]["name"], row[0]["mime"]) == ("IMG_0002.jpg", "image/jpeg")


async def test_documents_download_as_attachments_and_audio_serves_ranges(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """A PDF comes with Content-Disposition: attachment; audio answers Range with 206 and
    Content-Range, an unsatisfiable range with 416."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    doc = await uploaded(api, teacher, samples.pdf(), "범위.pdf")
    voice = await uploaded(api, teacher, samples.audio("ogg", seconds=2), "voice.ogg")
    await run_worker(hub_ctx, _ctx(hub_ctx))
    got = await api.get(f"/files/{doc['id']}", headers=teacher.headers)
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%EB%B2%94%EC%9C%84.pdf" in got.headers["content-disposition"]
    whole = await api.get(f"/files/{voice['id']}", headers=teacher.headers)
    part = await api.get(
        f"/files/{voice['id']}", headers={**teacher.headers, "Range": "bytes=10-109"}
    )
    assert part.status_code == 206 and part.content == whole.content[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(whole.content)}"
    tail = await api.get(f"/files/{voice['id']}", headers={**teacher.headers, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == whole.content[-5:]
    beyond = await api.get(
        f"/files/{voice['id']}", headers={**teacher.headers, "Range": "bytes=99999999-"}
    )
    assert beyond.status_code == 416


async def test_a_signed_url_fetches_without_a_token_until_it_expires(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, clock: FrozenClock
) -> None:
    """GET /files/{id}/url gives a short-lived HMAC-signed URL (local storage); a changed
    signature or an expired one gets 401; strangers cannot ask for one."""
    org = await factory.org()
    student, stranger = await factory.user("student", org), await factory.user("student", org)
    body = await uploaded(api, student, samples.png(), "a.png")
    await run_worker(hub_ctx, _ctx(hub_ctx))
    signed = await api.get(f"/files/{body['id']}/url", headers=student.headers)
    assert signed.status_code == 200, signed.text
    url = signed.json()["url"].removeprefix("/api/v1")
    assert (await api.get(url)).status_code == 200
    assert (await api.get(url[:-4] + "0000")).status_code == 401
    assert (await api.get(f"/files/{body['id']}/url", headers=stranger.headers)).status_code == 404
    clock.advance(seconds=hub_ctx.settings.file_url_ttl_s + 1)
    expired = await api.get(url)
    assert expired.status_code == 401 and error_of(expired)["code"] == "token_expired"


async def test_signed_urls_come_in_batches_and_are_not_limited_per_address(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """POST /files/urls signs a page of thumbnails at once (unknown or pending files are
    named, not fatal); fetching through signed URLs is not held to the per-IP request limit
    (a school behind one address), while the signature still gates it."""
    org = await factory.org()
    student = await factory.user("student", org)
    photo = await uploaded(api, student, samples.png(), "a.png")
    await run_worker(hub_ctx, _ctx(hub_ctx))
    pending = await uploaded(api, student, samples.webp(), "b.webp")
    missing = "00000000-0000-0000-0000-000000000000"
    batch = await api.post(
        "/files/urls",
        json={"file_ids": [photo["id"], pending["id"], missing], "thumbnail": True},
        headers=student.headers,
    )
    assert batch.status_code == 200, batch.text
    items = batch.json()["items"]
    assert [i["error"] for i in items] == [None, "file_not_ready", "not_found"]
    url = items[0]["url"].removeprefix("/api/v1")
    limit = hub_ctx.settings.rate_limit_per_minute
    statuses = {(await api.get(url)).status_code for _ in range(limit + 5)}
    assert statuses == {200}


async def test_uploads_never_attached_are_let_go_after_a_week(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """An upload nobody attached to a message loses its record and bytes after a week."""
    org = await factory.org()
    student = await factory.user("student", org)
    body = await uploaded(api, student, samples.png(color=(7, 7, 7)), "a.png")
    file_id = UUID(body["id"])
    key = await factory.fetchval("SELECT storage_key FROM files WHERE id = $1", file_id)
    assert await releasing.expire_unattached(hub_ctx) == 0
    await factory.fetch(
        "UPDATE files SET created_at = now() - interval '8 days' WHERE id = $1", file_id
    )
    assert await releasing.expire_unattached(hub_ctx) == 1
    assert isinstance(hub_ctx.storage, LocalStorage)
    assert not hub_ctx.storage.path_of(key).exists()
    assert (await api.get(f"/files/{file_id}", headers=student.headers)).status_code == 404


async def test_clamd_finds_a_signature_and_the_uploader_is_told_why(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    connect: Connect,
    clamd_url: str,
    scanning: Callable[[str | None], None],
) -> None:
    """A PDF that passes the built-in checks but matches a clamd signature becomes infected:
    never served, its bytes deleted, `file.refused` to the uploader."""
    scanning(clamd_url)
    org = await factory.org()
    student = await factory.user("student", org)
    me = await connect(student)
    data = samples.pdf(subject=MARKER.decode())
    body = await uploaded(api, student, data, "homework.pdf")
    await run_worker(hub_ctx, _ctx(hub_ctx))
    refused = await me.next("file.refused")
    assert refused["id"] == body["id"] and refused["state"] == "infected"
    assert "DreamSeed.Test.Marker" in refused["reason"]
    got = await api.get(f"/files/{body['id']}", headers=student.headers)
    assert got.status_code == 410 and error_of(got)["code"] == "file_gone"
    key = await factory.fetchval("SELECT storage_key FROM files WHERE id = $1", UUID(body["id"]))
    assert isinstance(hub_ctx.storage, LocalStorage)
    assert not hub_ctx.storage.path_of(key).exists()
    again = await api.post("/files", files={"file": ("again.pdf", data)}, headers=student.headers)
    assert again.status_code == 422 and error_of(again)["code"] == "file_infected"


async def test_clamd_down_or_slow_keeps_files_pending_until_it_answers(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    clamd_url: str,
    scanning: Callable[..., None],
    silent_server: str,
) -> None:
    """With scanning configured, a clamd that refuses connections or never answers leaves the
    file pending (never served); the sweep queues it again, and a working clamd clears it."""
    org = await factory.org()
    student = await factory.user("student", org)
    body = await uploaded(api, student, samples.png(), "a.png")
    file_id = UUID(body["id"])
    scanning("tcp://127.0.0.1:9", 1)  # nothing listens on the discard port
    with pytest.raises(processing.ScanUnavailableError):
        await processing.process_file(hub_ctx, file_id)
    scanning(silent_server, 0.3)
    with pytest.raises(processing.ScanUnavailableError):
        await processing.process_file(hub_ctx, file_id)
    row = await factory.fetch("SELECT state, scan_tries FROM files WHERE id = $1", file_id)
    assert (row[0]["state"], row[0]["scan_tries"]) == ("pending", 2)
    assert (await api.get(f"/files/{file_id}", headers=student.headers)).status_code == 409
    scanning(clamd_url)
    await hub_ctx.redis.delete(hub_ctx.keys.job_queue)
    assert await processing.requeue_pending(hub_ctx, older_than_s=0) == 1
    await run_worker(hub_ctx, _ctx(hub_ctx))
    state = await factory.fetchval("SELECT state FROM files WHERE id = $1", file_id)
    assert state == "clean"
    assert (await api.get(f"/files/{file_id}", headers=student.headers)).status_code == 200


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts and never answers: a clamd that hangs."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"tcp://127.0.0.1:{port}"
    server.close()


async def test_an_image_that_cannot_be_decoded_is_refused_in_the_worker(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, connect: Connect
) -> None:
    """A JPEG whose header is fine but whose data is cut off: refused when the worker decodes
    it, with `file.refused` to the uploader."""
    org = await factory.org()
    student = await factory.user("student", org)
    me = await connect(student)
    photo = samples.big_jpeg(400, 300)
    body = await uploaded(api, student, photo[: len(photo) // 3], "cut.jpg")
    await run_worker(hub_ctx, _ctx(hub_ctx))
    refused = await me.next("file.refused")
    assert (refused["id"], refused["state"]) == (body["id"], "refused")
    assert "decoded" in refused["reason"]
