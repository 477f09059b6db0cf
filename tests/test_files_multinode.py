"""Attachments across two hub processes sharing PostgreSQL, Redis and DATA_DIR."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from hub.settings import Settings
from schema.models.files import AttachmentOut
from tests import file_samples as samples
from tests.hubs import HubProcess, start_hubs
from tests.sockets import Client
from tests.support import Factory

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def hubs(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[HubProcess]]:
    """Two uvicorn processes on the test database, with the in-process hub's DATA_DIR."""
    previous = os.environ.get("DATA_DIR")
    os.environ["DATA_DIR"] = str(settings.data_dir)
    try:
        started = start_hubs(settings, 2, tmp_path_factory.mktemp("file-hubs"))
    finally:
        if previous is None:
            os.environ.pop("DATA_DIR", None)
        else:
            os.environ["DATA_DIR"] = previous
    yield started
    for hub in started:
        hub.stop()


@pytest.fixture
async def client(clean: None) -> AsyncIterator[Client]:
    opened = Client()
    yield opened
    await opened.close()


async def test_an_upload_resumed_on_another_hub_reaches_a_member_there(
    hubs: list[HubProcess], factory: Factory, client: Client
) -> None:
    """A tus upload starts on hub A and finishes on hub B; the voice of it is sent on hub A
    and a member connected to hub B gets message.new with the attachment, matching the wire
    schema."""
    org = await factory.org()
    parent, teacher = await factory.user("parent", org), await factory.user("teacher", org)
    conv = await factory.conversation("direct", org, [], [parent, teacher])
    data = samples.audio("webm", seconds=2)
    a, b = (httpx.AsyncClient(base_url=h.url + "/api/v1", timeout=30) for h in hubs)
    async with a, b:
        created = await a.post(
            "/files/tus", headers={**parent.headers, **TUS, "Upload-Length": str(len(data))}
        )
        assert created.status_code == 201, created.text
        where = created.headers["location"].removeprefix("/api/v1")
        patch = {**parent.headers, **TUS, "Content-Type": "application/offset+octet-stream"}
        half = len(data) // 2
        first = await a.patch(where, content=data[:half], headers={**patch, "Upload-Offset": "0"})
        assert first.status_code == 204, first.text
        head = await b.head(where, headers={**parent.headers, **TUS})
        assert head.headers["upload-offset"] == str(half)
        rest = await b.patch(
            where, content=data[half:], headers={**patch, "Upload-Offset": str(half)}
        )
        assert rest.status_code == 204, rest.text
        file_id = rest.headers["upload-file-id"]
        await client.connect(hubs[1].url, teacher.token)
        sent = await a.post(
            f"/conversations/{conv}/messages",
            json={
                "client_msg_id": uuid.uuid4().hex,
                "message_type": "voice",
                "attachment_ids": [file_id],
            },
            headers=parent.headers,
        )
        assert sent.status_code == 201, sent.text
        new = await client.next("message.new")
        attachment = AttachmentOut.model_validate(new["attachments"][0])
        assert (str(attachment.id), attachment.type, attachment.state) == (
            file_id,
            "audio/webm",
            "pending",
        )
        assert attachment.duration_s == pytest.approx(2.0, abs=0.1)
