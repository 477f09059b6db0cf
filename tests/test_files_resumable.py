"""Resumable uploads (tus 1.0 core + creation + termination) against a real uvicorn."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from hub.context import HubContext
from tests import file_samples as samples
from tests.support import Factory, User, error_of

TUS = {"Tus-Resumable": "1.0.0"}


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def _create(api: httpx.AsyncClient, user: User, length: int, name: str) -> str:
    response = await api.post(
        "/files/tus",
        headers={
            **user.headers,
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": _meta(filename=name),
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    return response.headers["location"].removeprefix("/api/v1")


async def _patch(
    api: httpx.AsyncClient, user: User, where: str, offset: int, data: bytes
) -> httpx.Response:
    return await api.patch(
        where,
        content=data,
        headers={
            **user.headers,
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


async def _offset(api: httpx.AsyncClient, user: User, where: str) -> int:
    head = await api.head(where, headers={**user.headers, **TUS})
    assert head.status_code == 200, head.headers
    return int(head.headers["upload-offset"])


async def test_an_upload_cut_off_midway_resumes_from_the_offset_the_hub_kept(
    api: httpx.AsyncClient, hub_server: tuple[str, Any], factory: Factory, hub_ctx: HubContext
) -> None:
    """A parent's phone loses the connection halfway through a PATCH: the bytes that arrived
    are kept, HEAD says where it stands, a PATCH at a wrong offset is refused (409) and the
    rest completes the file, which is checked like any upload."""
    org = await factory.org()
    parent = await factory.user("parent", org)
    data = samples.big_jpeg(1200, 900)
    where = await _create(api, parent, len(data), "숙제 사진.jpg")
    first = await _patch(api, parent, where, 0, data[:1000])
    assert first.status_code == 204 and first.headers["upload-offset"] == "1000"
    # The connection drops after half of the next piece.
    host, port = hub_server[0].removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    rest = data[1000:]
    writer.write(
        (
            f"PATCH /api/v1{where} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {parent.token}\r\n"
            "Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Upload-Offset: 1000\r\nContent-Length: {len(rest)}\r\n\r\n"
        ).encode()
        + rest[: len(rest) // 2]
    )
    await writer.drain()
    await asyncio.sleep(0)  # let the bytes leave before the close
    writer.close()
    await writer.wait_closed()
    offset = await _until_offset_moves(api, parent, where, 1000)
    assert 1000 < offset <= 1000 + len(rest) // 2
    wrong = await _patch(api, parent, where, 1000, data[1000:])
    assert wrong.status_code == 409 and error_of(wrong)["offset"] == offset
    done = await _patch(api, parent, where, offset, data[offset:])
    assert done.status_code == 204, done.text
    assert done.headers["upload-offset"] == str(len(data))
    file_id = done.headers["upload-file-id"]
    row = await factory.fetch(
        "SELECT name, mime, size, state FROM files WHERE id = $1::uuid", file_id
    )
    assert (row[0]["name"], row[0]["mime"], row[0]["state"]) == (
        "숙제 사진.jpg",
        "image/jpeg",
        "pending",
    )
    assert row[0]["size"] == len(data)


async def _until_offset_moves(api: httpx.AsyncClient, user: User, where: str, start: int) -> int:
    """The hub saves a cut-off PATCH's bytes when it notices the disconnect."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (offset := await _offset(api, user, where)) == start:
        assert loop.time() < deadline, "the cut-off PATCH was never saved"
        await asyncio.sleep(0.05)
    return offset


async def test_tus_refuses_oversized_lengths_bad_content_and_can_be_abandoned(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext
) -> None:
    """OPTIONS advertises the protocol; an Upload-Length over the limit is 413; a finished
    upload of a macro document is refused and forgotten; DELETE abandons an upload."""
    org = await factory.org()
    student = await factory.user("student", org)
    options = await api.options("/files/tus")
    assert options.headers["tus-version"] == "1.0.0"
    assert options.headers["tus-max-size"] == str(hub_ctx.settings.file_max_bytes)
    too_big = await api.post(
        "/files/tus",
        headers={
            **student.headers,
            **TUS,
            "Upload-Length": str(hub_ctx.settings.file_max_bytes + 1),
        },
    )
    assert too_big.status_code == 413
    macro = samples.docx_with_macro()
    where = await _create(api, student, len(macro), "report.docx")
    refused = await _patch(api, student, where, 0, macro)
    assert refused.status_code == 422 and error_of(refused)["check"] == "macro"
    assert (await api.head(where, headers={**student.headers, **TUS})).status_code == 404
    other = await _create(api, student, 100, "x.png")
    assert (await api.delete(other, headers={**student.headers, **TUS})).status_code == 204
    assert (await api.head(other, headers={**student.headers, **TUS})).status_code == 404
    assert await factory.fetchval("SELECT count(*) FROM files") == 0


async def test_another_users_upload_cannot_be_seen_or_appended(
    api: httpx.AsyncClient, factory: Factory
) -> None:
    """An upload's URL is useless to anyone else (RLS): HEAD and PATCH answer 404."""
    org = await factory.org()
    owner, other = await factory.user("student", org), await factory.user("student", org)
    where = await _create(api, owner, 50, "a.png")
    assert (await api.head(where, headers={**other.headers, **TUS})).status_code == 404
    assert (await _patch(api, other, where, 0, b"x" * 10)).status_code == 404
