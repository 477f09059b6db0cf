"""Uploads over REST against a real uvicorn: limits, type checks, quota, dedup, downloads."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from hub.context import HubContext
from hub.files.storage import LocalStorage
from tests import file_samples as samples
from tests.files_support import spooled, stored_files, upload, uploaded
from tests.support import Factory, error_of

MB = 1024 * 1024


async def test_png_upload_is_pending_with_its_real_type_and_safe_name(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """A PNG named .jpg with ../ and NUL in its name is stored as name.png, pending, once."""
    org = await factory.org()
    student = await factory.user("student", org)
    # A raw body named in the query: a real NUL arrives (multipart clients percent-encode it).
    response = await api.post(
        "/files",
        content=samples.png(),
        params={"name": "../../etc/pass\x00wd.jpg"},
        headers={**student.headers, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "passwd.png"
    assert (body["type"], body["kind"], body["state"]) == ("image/png", "image", "pending")
    assert (body["width"], body["height"]) == (64, 48)
    assert body["url"] == f"/api/v1/files/{body['id']}"
    assert len(stored_files(hub_ctx)) >= 1 and spooled(hub_ctx) == []


async def test_every_allowed_type_is_recognised_from_its_bytes(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """PNG, JPEG, WebP, PDF, DOCX/XLSX/PPTX, MP3, WAV, M4A, OGG and WebM: typed by content."""
    org = await factory.org()
    teacher = await factory.user("teacher", org)
    cases = {
        "image/png": samples.png(),
        "image/jpeg": samples.jpeg_with_gps(),
        "image/webp": samples.webp(),
        "application/pdf": samples.pdf(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": samples.docx(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": samples.xlsx(),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": samples.pptx(),
        "audio/mpeg": samples.audio("mp3"),
        "audio/wav": samples.audio("wav"),
        "audio/mp4": samples.audio("m4a"),
        "audio/ogg": samples.audio("ogg"),
        "audio/webm": samples.audio("webm"),
    }
    for mime, data in cases.items():
        body = await uploaded(api, teacher, data, "upload.txt")
        assert body["type"] == mime, (mime, body)
        assert not body["name"].endswith(".txt")
    voice = await uploaded(api, teacher, samples.audio("webm", seconds=2.0), "voice")
    assert voice["duration_s"] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(
    ("sample", "code", "check"),
    [
        ("png_header_on_zip", "file_refused", "type"),
        ("docx_with_macro", "file_refused", "macro"),
        ("pdf_js", "file_refused", "pdf_active"),
        ("eicar", "file_infected", "eicar"),
        ("nested_zip_bomb", "file_refused", "zip_bomb"),
        ("png_bomb", "file_refused", "pixels"),
        ("svg", "file_refused", "type"),
        ("html", "file_refused", "type"),
        ("exe", "file_refused", "executable"),
    ],
)
async def test_bad_content_is_refused_with_a_reason_and_stores_nothing(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    bad_files: dict[str, bytes],
    sample: str,
    code: str,
    check: str,
) -> None:
    """Each kind of bad file gets 422 with its reason; no record, no bytes, no spool left."""
    org = await factory.org()
    student = await factory.user("student", org)
    before, stored = await factory.snapshot(), stored_files(hub_ctx)
    response = await upload(api, student, bad_files[sample], "homework.png")
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert (error["code"], error["check"]) == (code, check), error
    assert await factory.snapshot() == before
    assert stored_files(hub_ctx) == stored and spooled(hub_ctx) == []


@pytest.fixture(scope="module")
def bad_files() -> dict[str, bytes]:
    return {
        "png_header_on_zip": samples.png_header_on_zip(),
        "docx_with_macro": samples.docx_with_macro(),
        "pdf_js": samples.pdf("app.alert('hi')"),
        "eicar": samples.eicar(),
        "nested_zip_bomb": samples.nested_zip_bomb(),
        "png_bomb": samples.png_bomb(),
        "svg": samples.svg(),
        "html": samples.html(),
        "exe": samples.exe(),
    }


async def test_a_body_over_the_limit_is_refused_by_its_header_before_it_is_read(
    hub_server: tuple[str, Any], factory: Factory, hub_ctx: HubContext
) -> None:
    """10 MiB + 1 declared: 413 at once (the body is never read), nothing stored."""
    org = await factory.org()
    student = await factory.user("student", org)
    limit = hub_ctx.settings.file_max_bytes
    reader, writer = await asyncio.open_connection(*_host_port(hub_server[0]))
    writer.write(
        (
            f"POST /api/v1/files?name=a.png HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {student.token}\r\nContent-Type: image/png\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert b" 413 " in status, status
    assert spooled(hub_ctx) == []


async def test_a_chunked_body_over_the_limit_is_refused_while_counting(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """10 MiB + 1 streamed without a length: 413 once the count passes the limit."""
    org = await factory.org()
    student = await factory.user("student", org)
    limit = hub_ctx.settings.file_max_bytes
    before = await factory.snapshot()

    async def body() -> Any:
        yield samples.png()[:16]
        sent = 16
        while sent <= limit:
            chunk = b"\0" * min(MB, limit + 1 - sent)
            sent += len(chunk)
            yield chunk

    response = await api.post(
        "/files", content=body(), params={"name": "big.png"}, headers=student.headers, timeout=30
    )
    assert response.status_code == 413, response.text
    assert error_of(response)["code"] == "payload_too_large"
    assert await factory.snapshot() == before and spooled(hub_ctx) == []


async def test_a_truncated_multipart_body_is_refused(
    hub_server: tuple[str, Any], factory: Factory, hub_ctx: HubContext
) -> None:
    """A multipart body without its closing boundary (and one shorter than its Content-Length
    claims, cut off at 50 %) stores nothing and leaves no spool."""
    org = await factory.org()
    student = await factory.user("student", org)
    before = await factory.snapshot()
    data = samples.png()
    boundary = "x" + secrets.token_hex(8)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    truncated = head + data  # no closing boundary
    async with httpx.AsyncClient(base_url=hub_server[0] + "/api/v1") as api:
        response = await api.post(
            "/files",
            content=truncated,
            headers={
                **student.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "upload_incomplete"
    # Cut at 50 %: the connection closes halfway through a body it declared in full.
    whole = head + data + f"\r\n--{boundary}--\r\n".encode()
    _, writer = await asyncio.open_connection(*_host_port(hub_server[0]))
    writer.write(
        (
            f"POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {student.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(whole)}\r\n\r\n"
        ).encode()
        + whole[: len(whole) // 2]
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await _until(lambda: spooled(hub_ctx) == [])
    assert await factory.snapshot() == before


async def test_a_lying_content_length_gets_an_error_and_stores_nothing(
    hub_server: tuple[str, Any], factory: Factory, hub_ctx: HubContext
) -> None:
    """Content-Length says 1 KB but 11 MB follow: the hub reads 1 KB, finds the multipart body
    truncated, answers 400 and stores nothing."""
    org = await factory.org()
    student = await factory.user("student", org)
    before = await factory.snapshot()
    boundary = "lie"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        ).encode()
        + samples.png()
        + b"\0" * (11 * MB)
    )
    reader, writer = await asyncio.open_connection(*_host_port(hub_server[0]))
    writer.write(
        (
            f"POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {student.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: 1024\r\n\r\n"
        ).encode()
        + body[: 2 * MB]
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert b" 400 " in status, status
    assert await factory.snapshot() == before and spooled(hub_ctx) == []


async def test_the_daily_quota_refuses_uploads_past_it(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Past the day's quota an upload gets 429 quota_exceeded; another user is unaffected."""
    org = await factory.org()
    student, other = await factory.user("student", org), await factory.user("student", org)
    quota = hub_ctx.settings.file_daily_quota_bytes
    await hub_ctx.redis.set(
        hub_ctx.keys.file_quota(student.id, hub_ctx.clock().date().isoformat()), quota
    )
    response = await upload(api, student, samples.png(), "a.png")
    assert response.status_code == 429, response.text
    assert error_of(response)["code"] == "quota_exceeded"
    assert (await upload(api, other, samples.png(), "a.png")).status_code == 201


async def test_the_same_bytes_are_stored_once_per_organization(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """Two students of one school upload the same photo: two records, one stored object;
    a student of another school gets an object of its own."""
    org, other_org = await factory.org(), await factory.org()
    a, b = await factory.user("student", org), await factory.user("student", org)
    c = await factory.user("student", other_org)
    data = samples.png(color=(1, 2, 3))
    first = await uploaded(api, a, data, "a.png")
    second = await uploaded(api, b, data, "b.png")
    third = await uploaded(api, c, data, "c.png")
    assert len({first["id"], second["id"], third["id"]}) == 3
    keys = await factory.fetch(
        "SELECT DISTINCT storage_key FROM files WHERE id = ANY($1::uuid[])",
        [first["id"], second["id"], third["id"]],
    )
    assert len(keys) == 2
    assert isinstance(hub_ctx.storage, LocalStorage)
    assert all(hub_ctx.storage.path_of(k["storage_key"]).exists() for k in keys)


async def test_org_is_required_when_a_user_belongs_to_several_and_must_be_theirs(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """A user of two schools names one; a school they are not in is forbidden."""
    org, second, foreign = await factory.org(), await factory.org(), await factory.org()
    teacher = await factory.user("teacher", org)
    await factory.fetch(
        "INSERT INTO memberships (org_id, zone_id, user_id, role) VALUES ($1, $2, $3, 'teacher')",
        second.id,
        second.zone_id,
        teacher.id,
    )
    missing = await upload(api, teacher, samples.png(), "a.png")
    assert missing.status_code == 422 and error_of(missing)["field"] == "org_id"
    other = await upload(api, teacher, samples.png(), "a.png", org_id=str(foreign.id))
    assert other.status_code == 403
    named = await upload(api, teacher, samples.png(), "a.png", org_id=str(second.id))
    assert named.status_code == 201, named.text


async def test_the_upload_alias_and_a_raw_body_work_too(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """POST /files/upload is the same route; a raw body takes its name from ?name=."""
    org = await factory.org()
    student = await factory.user("student", org)
    alias = await upload(api, student, samples.pdf(), "scope.pdf", path="/files/upload")
    assert alias.status_code == 201 and alias.json()["type"] == "application/pdf"
    raw = await api.post(
        "/files",
        content=samples.pdf(),
        params={"name": "시험 범위.docx"},
        headers={**student.headers, "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 201, raw.text
    assert raw.json()["name"] == "시험 범위.pdf"


async def test_only_upload_routes_are_exempt_from_the_body_limit(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """A JSON body over MAX_BODY_BYTES to /files/urls is still 413 (only uploads stream)."""
    org = await factory.org()
    student = await factory.user("student", org)
    big = b'{"file_ids": ["' + b"x" * (hub_ctx.settings.max_body_bytes + 10) + b'"]}'
    response = await api.post(
        "/files/urls", content=big, headers={**student.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_an_unsigned_in_upload_is_refused(api: httpx.AsyncClient) -> None:
    """No token: 401 before anything is read."""
    response = await api.post("/files", files={"file": ("a.png", samples.png())})
    assert response.status_code == 401


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def _until(condition: Any, timeout: float = 10) -> None:
    """Wait for a condition the hub reaches on its own (a cut-off request's cleanup)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
