"""The S3 backend through aiobotocore against a real S3-protocol server on 127.0.0.1 (moto's
server mode): uploads, deduplication, downloads through the API and presigned URLs, and the
object store going down in the middle of an upload."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from hub.context import HubContext
from hub.files.storage import S3Storage
from tests import file_samples as samples
from tests.files_support import run_worker, spooled, uploaded
from tests.support import Factory, error_of


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[ThreadedMotoServer]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    yield server
    server.stop()


def _url(server: ThreadedMotoServer) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


@pytest.fixture
async def s3(hub_ctx: HubContext, s3_server: ThreadedMotoServer) -> AsyncIterator[S3Storage]:
    """The running hub stores files in the S3 server for one test."""
    store = await S3Storage.open(
        bucket="dreamseed-test",
        endpoint_url=_url(s3_server),
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
    )
    original = hub_ctx.storage
    hub_ctx.storage = store
    yield store
    hub_ctx.storage = original
    await store.close()


async def _keys(store: S3Storage) -> list[str]:
    listing = await store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


async def test_files_live_in_the_bucket_once_and_come_back_through_the_api_and_presigned_urls(
    api: httpx.AsyncClient, factory: Factory, hub_ctx: HubContext, s3: S3Storage
) -> None:
    """Two uploads of the same PDF: one object; the worker's thumbnail of a photo is an
    object too; downloads stream from the bucket, a presigned URL fetches straight from it."""
    org = await factory.org()
    teacher, student = await factory.user("teacher", org), await factory.user("student", org)
    data = samples.pdf()
    first = await uploaded(api, teacher, data, "a.pdf")
    await uploaded(api, student, data, "b.pdf")
    photo = await uploaded(api, student, samples.jpeg_with_gps(), "p.jpg")
    await run_worker(hub_ctx, {"hub": hub_ctx})
    keys = await _keys(s3)
    assert len(keys) == 3 and sum(k.endswith(".thumb.webp") for k in keys) == 1
    got = await api.get(f"/files/{first['id']}", headers=teacher.headers)
    assert got.status_code == 200 and got.content == data
    part = await api.get(f"/files/{first['id']}", headers={**teacher.headers, "Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == data[:8]
    signed = (await api.get(f"/files/{first['id']}/url", headers=teacher.headers)).json()
    assert signed["url"].startswith(_url_of(s3))
    async with httpx.AsyncClient() as direct:
        fetched = await direct.get(signed["url"])
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-disposition"].startswith("attachment;")
    thumb = await api.get(f"/files/{photo['id']}/thumbnail", headers=student.headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"


def _url_of(store: S3Storage) -> str:
    return str(store.client.meta.endpoint_url)


async def test_the_object_store_going_down_mid_upload_leaves_nothing_behind(
    api: httpx.AsyncClient,
    factory: Factory,
    hub_ctx: HubContext,
    s3: S3Storage,
    s3_server: ThreadedMotoServer,
) -> None:
    """The S3 server stops while the body is still arriving: 503 unavailable, no record, no
    spool; once it is back, the same upload works."""
    org = await factory.org()
    student = await factory.user("student", org)
    before = await factory.snapshot()
    data = samples.big_jpeg(1600, 1200)

    async def body() -> Any:
        half = len(data) // 2
        yield data[:half]
        s3_server.stop()
        yield data[half:]

    try:
        response = await api.post(
            "/files",
            content=body(),
            params={"name": "photo.jpg"},
            headers={**student.headers, "Content-Type": "image/jpeg"},
            timeout=60,
        )
    finally:
        s3_server.start()
    assert response.status_code == 503, response.text
    assert error_of(response)["code"] == "unavailable"
    assert await factory.snapshot() == before and spooled(hub_ctx) == []
    retried = await uploaded(api, student, data, "photo.jpg")
    assert retried["state"] == "pending"
