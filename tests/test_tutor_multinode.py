"""The AI tutor across hub processes: one answer on two devices of a student, each on its own
hub; cancel from the other device; a reconnect mid-answer, and a SIGKILLed hub mid-answer,
give the whole answer with no gap and nothing twice. Generation runs in the tutor worker, so
no hub holds it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from arq.worker import Worker

from hub.settings import Settings
from tests.hubs import HubProcess, start_hubs
from tests.model_standin import ModelStandIn, answer_tokens
from tests.sockets import Client
from tests.support import Factory, User
from tests.tutor_support import (
    Answer,
    follow,
    question_id,
    tutor_settings,
    tutor_worker,
    until_chars,
)


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[ModelStandIn]:
    server = await ModelStandIn(token_interval_s=0.002, tokens=40).start()
    server.slow_interval_s = 0.03
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def worker(standin: ModelStandIn, settings: Settings) -> AsyncIterator[Worker]:
    async with tutor_worker(tutor_settings(settings, standin.base_url)) as running:
        yield running


@pytest.fixture(scope="module")
def hubs(
    settings: Settings, standin: ModelStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[HubProcess]]:
    """Two hub processes with the tutor pointed at the stand-in."""
    before = os.environ.get("TUTOR_URL")
    os.environ["TUTOR_URL"] = standin.base_url
    try:
        processes = start_hubs(settings, 2, tmp_path_factory.mktemp("tutor-hubs"))
    finally:
        if before is None:
            del os.environ["TUTOR_URL"]
        else:
            os.environ["TUTOR_URL"] = before
    yield processes
    for hub in processes:
        hub.stop()


@pytest.fixture
async def devices(hubs: list[HubProcess], clean: None) -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


async def open_device(opened: list[Client], hub: HubProcess, user: User) -> Client:
    client = await Client().connect(hub.url, user.token)
    opened.append(client)
    return client


async def test_answer_streams_to_two_devices_on_two_hubs(
    hubs: list[HubProcess],
    worker: Worker,
    factory: Factory,
    devices: list[Client],
    standin: ModelStandIn,
) -> None:
    """The phone (hub 0) asks; the phone and the laptop (hub 1) both show the whole answer."""
    standin.reset()
    student = await factory.user("student", await factory.org())
    phone = await open_device(devices, hubs[0], student)
    laptop = await open_device(devices, hubs[1], student)
    ack = await phone.call("tutor.ask", {"client_msg_id": question_id(), "question": "근의 공식?"})
    assert "error" not in ack, ack
    on_phone, on_laptop = await asyncio.gather(
        follow(phone, Answer(ack["answer_id"])), follow(laptop, Answer(ack["answer_id"]))
    )
    assert on_phone.done is not None and on_phone.done["status"] == "done"
    stored = on_phone.done["message"]["content"]
    assert on_phone.text == on_laptop.text == stored == "".join(answer_tokens(40))
    assert on_phone.duplicates == on_laptop.duplicates == 0


async def test_cancel_from_the_other_device_stops_the_model_server(
    hubs: list[HubProcess],
    worker: Worker,
    factory: Factory,
    devices: list[Client],
    standin: ModelStandIn,
) -> None:
    """The laptop (hub 1) cancels what the phone (hub 0) asked: the stand-in sees its
    connection close, and both devices end with the same kept, cancelled text."""
    standin.reset()
    student = await factory.user("student", await factory.org())
    phone = await open_device(devices, hubs[0], student)
    laptop = await open_device(devices, hubs[1], student)
    ack = await phone.call(
        "tutor.ask", {"client_msg_id": question_id(), "question": "길게 #slow #tokens=500"}
    )
    on_phone, on_laptop = Answer(ack["answer_id"]), Answer(ack["answer_id"])
    await until_chars(laptop, on_laptop, 30)
    asked = time.time()
    cancel = await laptop.call("tutor.cancel", {"answer_id": ack["answer_id"]})
    assert cancel == {"answer_id": ack["answer_id"], "cancelled": True}
    served = standin.served[-1]
    await asyncio.wait_for(served.ended.wait(), 5)
    assert served.outcome == "disconnected"
    assert served.disconnected_at is not None
    print(f"cancel to upstream close: {(served.disconnected_at - asked) * 1000:.1f} ms")
    await asyncio.gather(follow(phone, on_phone), follow(laptop, on_laptop))
    assert on_phone.done is not None and on_phone.done["status"] == "cancelled"
    assert on_phone.done["finish_reason"] == "cancelled"
    assert on_phone.text == on_laptop.text == on_phone.done["message"]["content"]
    assert 30 <= len(on_phone.text) < 1500
    row = (await factory.fetch("SELECT outcome, answer_message_id FROM tutor_requests"))[0]
    assert row["outcome"] == "cancelled" and row["answer_message_id"] is not None
    again = await phone.call("tutor.cancel", {"answer_id": ack["answer_id"]})
    assert again["error"]["code"] == "conflict"


async def test_reconnect_mid_answer_to_another_hub_misses_nothing(
    hubs: list[HubProcess],
    worker: Worker,
    factory: Factory,
    devices: list[Client],
    standin: ModelStandIn,
) -> None:
    """The phone drops off mid-answer, comes back on the other hub, resumes from its offset:
    the whole answer, no gap, nothing shown twice."""
    standin.reset()
    student = await factory.user("student", await factory.org())
    phone = await open_device(devices, hubs[0], student)
    ack = await phone.call(
        "tutor.ask", {"client_msg_id": question_id(), "question": "터널 #slow #tokens=80"}
    )
    answer = Answer(ack["answer_id"])
    await until_chars(phone, answer, 20)
    await phone.close()
    back = await open_device(devices, hubs[1], student)
    answer.resumed(
        await back.call(
            "tutor.resume",
            {"answer_id": answer.answer_id, "offset": len(answer.text), "attempt": 1},
        )
    )
    await follow(back, answer)
    assert answer.done is not None and answer.done["status"] == "done"
    assert answer.text == answer.done["message"]["content"] and answer.text == "".join(
        answer_tokens(80)
    )


async def test_sigkill_of_the_students_hub_mid_answer_loses_nothing(
    hubs: list[HubProcess],
    worker: Worker,
    factory: Factory,
    devices: list[Client],
    standin: ModelStandIn,
) -> None:
    """The hub the student asked on is SIGKILLed mid-answer; the generation goes on in the
    worker, and the device, back on the other hub, gets the complete answer."""
    standin.reset()
    student = await factory.user("student", await factory.org())
    phone = await open_device(devices, hubs[0], student)
    ack = await phone.call(
        "tutor.ask", {"client_msg_id": question_id(), "question": "충돌 #slow #tokens=80"}
    )
    answer = Answer(ack["answer_id"])
    await until_chars(phone, answer, 20)
    hubs[0].kill()
    await asyncio.wait_for(phone.disconnected.wait(), 10)
    back = await open_device(devices, hubs[1], student)
    answer.resumed(
        await back.call(
            "tutor.resume",
            {"answer_id": answer.answer_id, "offset": len(answer.text), "attempt": 1},
        )
    )
    await follow(back, answer)
    assert answer.done is not None and answer.done["status"] == "done"
    assert answer.text == answer.done["message"]["content"] and answer.text == "".join(
        answer_tokens(80)
    )
    assert standin.served[-1].outcome == "completed"
