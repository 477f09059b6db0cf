"""The AI tutor end to end on one hub: the real aiohttp client against the stand-in model
server, the real tutor worker, real sockets, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from uuid import UUID, uuid4

import httpx
import pytest
from arq.worker import Worker

from hub.context import Actor, HubContext
from hub.errors import DomainError, ErrorCode
from hub.settings import Settings
from hub.tutor.voice import ask_spoken
from tests.exam_support import make_class
from tests.model_standin import HARMFUL_TOKENS, ModelStandIn
from tests.sockets import Client
from tests.support import Factory, User, history, listing
from tests.tutor_support import (
    Answer,
    ask,
    follow,
    question_id,
    sample,
    tutor_settings,
    tutor_worker,
)

Connect = Callable[[User], Awaitable[Client]]


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[ModelStandIn]:
    server = await ModelStandIn(token_interval_s=0.002, tokens=40).start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def worker(standin: ModelStandIn, settings: Settings) -> AsyncIterator[Worker]:
    # One request at a time per model server: the second asker waits in line, told where.
    tuned = tutor_settings(settings, standin.base_url, tutor_server_concurrency=1)
    async with tutor_worker(tuned) as running:
        yield running


@pytest.fixture
def tutored(
    hub_ctx: HubContext, settings: Settings, standin: ModelStandIn, worker: Worker
) -> Iterator[HubContext]:
    """The in-process hub with the tutor pointed at the stand-in."""
    standin.reset()
    hub_ctx.settings = tutor_settings(settings, standin.base_url)
    yield hub_ctx
    hub_ctx.settings = settings


async def test_answer_streams_and_is_stored_as_a_message(
    tutored: HubContext,
    factory: Factory,
    connect: Connect,
    api: httpx.AsyncClient,
    standin: ModelStandIn,
) -> None:
    """A question is stored, its answer streams in, ends as a message with seq, and is recorded."""
    org = await factory.org()
    student = await factory.user("student", org)
    device = await connect(student)
    done_before = sample("dreamseed_tutor_answers_total", outcome="done")
    model = "Qwen/Qwen2.5-7B-Instruct"
    ttft_before = sample("dreamseed_tutor_time_to_first_token_seconds_count", model=model)
    tpot_before = sample("dreamseed_tutor_time_per_output_token_seconds_count", model=model)
    ack = await ask(device, "이차방정식 근의 공식을 설명해 주세요")
    assert "error" not in ack, ack
    answer = await follow(device, Answer(ack["answer_id"]))
    assert answer.done is not None and answer.done["status"] == "done"
    message = answer.done["message"]
    assert message["content"] == answer.text and answer.text.startswith("근의 공식은")
    assert message["seq"] == ack["question"]["seq"] + 1
    assert answer.done["usage"] == {"prompt_tokens": 20, "completion_tokens": 40}
    assert answer.done["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert answer.done["finish_reason"] == "stop"
    # The conversation is listed like any other, with the answer unread.
    listed = {c["id"]: c for c in await listing(api, student)}
    conv = listed[ack["conversation_id"]]
    assert conv["kind"] == "tutor" and conv["unread_count"] == 1
    page = await history(api, student, ack["conversation_id"])
    assert [m["content"] for m in page["items"]] == [ack["question"]["content"], answer.text]
    # The model saw the system prompt and the question.
    sent = standin.served[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0]["role"] == "system" and "튜터" in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"] == ack["question"]["content"]
    rows = await factory.fetch("SELECT * FROM tutor_requests")
    assert len(rows) == 1
    row = rows[0]
    assert row["outcome"] == "done" and row["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (20, 40)
    assert row["ttft_ms"] is not None and row["total_ms"] >= row["ttft_ms"]
    assert str(row["answer_message_id"]) == message["id"]
    assert sample("dreamseed_tutor_answers_total", outcome="done") == done_before + 1
    assert sample("dreamseed_tutor_time_to_first_token_seconds_count", model=model) == (
        ttft_before + 1
    )
    assert sample("dreamseed_tutor_time_per_output_token_seconds_count", model=model) == (
        tpot_before + 1
    )
    # Asking again with the same client_msg_id returns the first ask, storing nothing more.
    again = await device.call(
        "tutor.ask",
        {"client_msg_id": row["client_msg_id"], "question": "이차방정식 근의 공식을 설명해 주세요"},
    )
    assert again["answer_id"] == ack["answer_id"]
    assert again["question"]["id"] == ack["question"]["id"]
    assert await factory.fetchval("SELECT count(*) FROM messages") == 2


async def test_split_harmful_phrase_never_reaches_a_socket(
    tutored: HubContext, factory: Factory, connect: Connect, standin: ModelStandIn
) -> None:
    """A harmful phrase split over two tokens is caught before either half is shown; the
    answer is generated again and the device drops what it had."""
    org = await factory.org()
    student = await factory.user("student", org)
    device = await connect(student)
    filtered_before = sample("dreamseed_tutor_filtered_total", reason="harmful")
    ack = await ask(device, "근의 공식 #harmful")
    answer = await follow(device, Answer(ack["answer_id"]))
    shown = "".join(answer.shown)
    assert HARMFUL_TOKENS[0] not in shown and "bo" + "mb" not in shown
    assert "make a" not in shown
    assert answer.drops == 1 and answer.attempt == 2
    assert answer.done is not None and answer.done["status"] == "done"
    assert answer.done["message"]["content"] == answer.text
    assert len(standin.served) == 2 and standin.served[0].outcome == "disconnected"
    row = (await factory.fetch("SELECT outcome, attempts FROM tutor_requests"))[0]
    assert (row["outcome"], row["attempts"]) == ("done", 2)
    assert sample("dreamseed_tutor_filtered_total", reason="harmful") == filtered_before + 1


async def test_always_harmful_answer_ends_in_a_polite_refusal(
    tutored: HubContext, factory: Factory, connect: Connect, standin: ModelStandIn
) -> None:
    """Four filtered attempts (the first and three retries): a polite refusal, outcome filtered."""
    standin.harmful_times = 10
    org = await factory.org()
    student = await factory.user("student", org)
    device = await connect(student)
    ack = await ask(device, "근의 공식 #harmful")
    answer = await follow(device, Answer(ack["answer_id"]))
    assert "bo" + "mb" not in "".join(answer.shown)
    assert answer.done is not None and answer.done["status"] == "filtered"
    assert answer.text.startswith("죄송해요") and answer.drops == 4
    assert len(standin.served) == 4
    row = (await factory.fetch("SELECT outcome, attempts FROM tutor_requests"))[0]
    assert (row["outcome"], row["attempts"]) == ("filtered", 4)


async def test_a_busy_model_server_tells_the_student_their_place_in_line(
    tutored: HubContext, factory: Factory, connect: Connect
) -> None:
    """With the server's one slot taken, the next asker hears tutor.queued {position: 1}, then
    gets the answer."""
    org = await factory.org()
    first, second = await factory.user("student", org), await factory.user("student", org)
    one, two = await connect(first), await connect(second)
    slow = await ask(one, "천천히 #slow #tokens=20")
    waiting = await ask(two, "기다려요")
    event, frame = await asyncio.wait_for(two.tutor.get(), 10)
    assert (event, frame) == ("tutor.queued", {"answer_id": waiting["answer_id"], "position": 1})
    later = await follow(two, Answer(waiting["answer_id"]))
    assert later.done is not None and later.done["status"] == "done"
    assert (await follow(one, Answer(slow["answer_id"]))).done is not None


async def test_teachers_and_parents_read_tutor_conversations_unless_the_school_says_no(
    tutored: HubContext, factory: Factory, connect: Connect, api: httpx.AsyncClient
) -> None:
    """The class's teacher and the linked parent read (never write); another teacher and a
    classmate cannot; with observers off, only the student; usage per class per day."""
    org = await factory.org()
    student, classmate = await factory.user("student", org), await factory.user("student", org)
    teacher, stranger = await factory.user("teacher", org), await factory.user("teacher", org)
    admin, parent = await factory.user("org_admin", org), await factory.user("parent", org)
    class_id = await make_class(factory, org, [student, classmate])
    await factory.fetch(
        "INSERT INTO class_members (class_id, org_id, zone_id, user_id, role) "
        "VALUES ($1, $2, $3, $4, 'teacher')",
        class_id,
        org.id,
        org.zone_id,
        teacher.id,
    )
    await factory.fetch(
        "INSERT INTO parent_links (org_id, zone_id, parent_id, student_id, status, "
        "requested_at, expires_at) VALUES ($1, $2, $3, $4, 'approved', now(), now())",
        org.id,
        org.zone_id,
        parent.id,
        student.id,
    )
    device = await connect(student)
    ack = await ask(device, "근의 공식?")
    await follow(device, Answer(ack["answer_id"]))
    path = f"/tutor/conversations/{ack['conversation_id']}/messages"
    for reader in (teacher, parent, admin):
        found = await api.get(
            "/tutor/conversations", params={"student_id": str(student.id)}, headers=reader.headers
        )
        assert [c["conversation_id"] for c in found.json()["items"]] == [ack["conversation_id"]]
        page = await api.get(path, headers=reader.headers)
        assert page.status_code == 200 and len(page.json()["items"]) == 2
        post = await api.post(
            f"/conversations/{ack['conversation_id']}/messages",
            json={"client_msg_id": question_id(), "content": "hi"},
            headers=reader.headers,
        )
        assert post.status_code == 404
    for outsider in (stranger, classmate):
        assert (await api.get(path, headers=outsider.headers)).status_code == 404
    usage = await api.get(
        "/tutor/usage", params={"class_id": str(class_id)}, headers=teacher.headers
    )
    assert [(r["student_id"], r["questions"]) for r in usage.json()["items"]] == [
        (str(student.id), 1)
    ]
    assert (
        await api.get("/tutor/usage", params={"class_id": str(class_id)}, headers=stranger.headers)
    ).status_code == 403
    off = await api.put(
        f"/tutor/settings/{org.id}", json={"observers": False}, headers=admin.headers
    )
    assert off.status_code == 200
    assert (await api.get(path, headers=teacher.headers)).status_code == 404
    assert (await api.get(path, headers=parent.headers)).status_code == 404
    assert (await api.get(path, headers=student.headers)).status_code == 200


async def test_without_a_model_server_the_tutor_says_it_is_not_configured(
    hub_ctx: HubContext, factory: Factory, connect: Connect, api: httpx.AsyncClient
) -> None:
    """No TUTOR_URL: a clear tutor_not_configured error on socket and REST, nothing stored."""
    student = await factory.user("student", await factory.org())
    ack = await ask(await connect(student), "근의 공식?")
    assert ack["error"] == {
        "code": "tutor_not_configured",
        "message": "The AI tutor is not configured on this server",
    }
    rest = await api.post(
        "/tutor/questions",
        json={"client_msg_id": question_id(), "question": "근의 공식?"},
        headers=student.headers,
    )
    assert rest.status_code == 503 and rest.json()["error"]["code"] == "tutor_not_configured"
    assert await factory.fetchval("SELECT count(*) FROM tutor_requests") == 0


class _Transcripts:
    """A transcript source as the transcription work will provide one (recording -> text)."""

    def __init__(self, texts: dict[UUID, str]) -> None:
        self.texts = texts

    async def transcript(self, ctx: HubContext, actor: Actor, recording_id: UUID) -> str:
        return self.texts[recording_id]


async def test_a_spoken_question_is_asked_through_the_voice_seam(
    tutored: HubContext, factory: Factory, connect: Connect
) -> None:
    """ask_spoken asks a recording's transcript like a typed question; silence is refused."""
    student = await factory.user("student", await factory.org())
    device = await connect(student)
    actor = Actor(student.id, student.session_id)
    spoken, silent = uuid4(), uuid4()
    source = _Transcripts({spoken: " 근의 공식이 뭐예요? ", silent: "  "})
    asked = await ask_spoken(tutored, actor, source, spoken, question_id())
    assert asked.question["content"] == "근의 공식이 뭐예요?"
    answer = await follow(device, Answer(str(asked.answer_id)))
    assert answer.done is not None and answer.done["status"] == "done"
    with pytest.raises(DomainError) as refused:
        await ask_spoken(tutored, actor, source, silent, question_id())
    assert refused.value.code == ErrorCode.VALIDATION
