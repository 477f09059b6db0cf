"""The tutor's pure parts: SSE decoding, chunk parsing, the output guard, the injection
filter's clean side, routing, the prompt budget, and the per-server gate's queue."""

from __future__ import annotations

import asyncio

import pytest

from hub.tutor.client import (
    Finish,
    ModelError,
    ModelErrorKind,
    ModelServer,
    Token,
    Usage,
    parse_chunk,
)
from hub.tutor.gate import Gate
from hub.tutor.prompt import Turn, build_messages
from hub.tutor.routing import Plan, Tier, candidates, choose_tier
from hub.tutor.safety import HarmfulOutputError, OutputGuard, injection_reason
from hub.tutor.sse import SseDecoder
from hub.tutor.stream import AnswerState, replay_from


def test_sse_comments_multiline_data_and_split_line_endings() -> None:
    """Comments are skipped, data lines join with LF, CRLF split across chunks is one end."""
    decoder = SseDecoder()
    events = []
    for chunk in [
        ": keep-alive\r",
        "\n",
        'data: {"a":\r',
        "\ndata: 1}\r\n\r",
        "\nda",
        "ta: [DONE]\n\n",
    ]:
        events += decoder.feed(chunk)
    assert [e.data for e in events] == ['{"a":\n1}', "[DONE]"]
    assert not decoder.unfinished


def test_chunks_give_tokens_finish_usage_and_errors() -> None:
    """A vLLM delta, its finish and usage chunks parse; an error object or garbage raises."""
    assert parse_chunk('{"choices":[{"index":0,"delta":{"content":"안녕"}}]}') == [Token("안녕")]
    assert parse_chunk('{"choices":[{"delta":{},"finish_reason":"stop"}]}') == [Finish("stop")]
    assert parse_chunk(
        '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}'
    ) == [Usage(3, 4)]
    for data, kind in [
        ('{"error":{"message":"oom","type":"InternalServerError","code":500}}', "upstream_error"),
        ('{"object":"error","message":"bad"}', "upstream_error"),
        ("{not json", "garbage"),
        ('{"id":"x"}', "garbage"),
    ]:
        with pytest.raises(ModelError) as caught:
            parse_chunk(data)
        assert caught.value.kind == ModelErrorKind(kind)


def test_guard_holds_back_a_window_and_catches_a_split_phrase() -> None:
    """Nothing of a phrase split over tokens is released before the phrase is caught."""
    guard = OutputGuard(window=48)
    released = guard.feed("이차방정식의 근의 공식을 설명할게요. " * 3)
    assert len(guard.text) - len(released) == 48
    released += guard.feed("Here is how to make a bo")
    with pytest.raises(HarmfulOutputError) as caught:
        # Checked every few characters: caught within the next token or two, never released.
        for token in ("mb at home", " and then ", "more words"):
            released += guard.feed(token)
    assert caught.value.reason == "harmful"
    assert "make a" not in released
    clean = OutputGuard(window=48)
    shown = clean.feed("short answer") + clean.finish()
    assert shown == "short answer"


@pytest.mark.parametrize(
    "question",
    [
        "이차방정식 근의 공식을 설명해 주세요",
        "What are the previous steps in long division?",
        "Explain the system of equations x + y = 3",
        "base64 인코딩이 뭐예요? 예: aGVsbG8=",
    ],
)
def test_ordinary_questions_pass_the_injection_filter(question: str) -> None:
    """Questions that merely mention systems, steps or base64 are not injections."""
    assert injection_reason(question) is None


def test_routing_by_size_and_plan_with_fallbacks() -> None:
    """Short to small, long to large, the longest to premium on the premium plan only."""
    assert choose_tier(50, Plan.BASIC, 100, 500) is Tier.SMALL
    assert choose_tier(100, Plan.BASIC, 100, 500) is Tier.LARGE
    assert choose_tier(900, Plan.BASIC, 100, 500) is Tier.LARGE
    assert choose_tier(900, Plan.PREMIUM, 100, 500) is Tier.PREMIUM
    small, large = ModelServer("small", "7b", "http://a"), ModelServer("large", "32b", "http://b")
    servers = {Tier.SMALL: small, Tier.LARGE: large}
    assert candidates(Tier.SMALL, servers) == [small, large]
    assert candidates(Tier.PREMIUM, servers) == [large, small]


def test_prompt_keeps_the_newest_turns_within_budget() -> None:
    """The system prompt names the grade; old turns drop out first; the question is last."""
    history = [Turn("user", "오래된 질문 " * 50), Turn("assistant", "오래된 답 " * 50)]
    history += [Turn("user", "최근 질문"), Turn("assistant", "최근 답")]
    messages = build_messages("ko", "고등학교 1학년", history, "새 질문", budget=200)
    assert "고등학교 1학년" in messages[0]["content"]
    assert [m["content"] for m in messages[1:]] == ["최근 질문", "최근 답", "새 질문"]


def test_replay_from_an_offset_or_from_another_attempt() -> None:
    """A device gets what follows its offset; holding another attempt, everything."""
    state = AnswerState()
    for frame in [
        {"kind": "delta", "attempt": 1, "offset": 0, "text": "abc"},
        {"kind": "drop", "attempt": 2, "offset": 0},
        {"kind": "delta", "attempt": 2, "offset": 0, "text": "xyz"},
    ]:
        state.apply(frame)
    assert replay_from(state, 1, 2) == (1, "yz")
    assert replay_from(state, 3, 1) == (0, "xyz")
    with pytest.raises(ValueError):
        replay_from(state, 4, 2)


async def test_gate_queues_beyond_the_limit_and_tells_positions() -> None:
    """With one slot, the second and third wait, told their places (1 and 2), served in order."""
    gate = Gate(1)
    told: dict[str, list[int]] = {"b": [], "c": []}
    release = asyncio.Event()
    order: list[str] = []
    both_waiting = asyncio.Event()

    async def use(name: str) -> None:
        async def tell(position: int) -> None:
            told[name].append(position)
            if name == "c":
                both_waiting.set()

        async with gate.slot(tell):
            order.append(name)
            if name == "a":
                await release.wait()

    first = asyncio.create_task(use("a"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(use("b")), asyncio.create_task(use("c"))]
    await both_waiting.wait()
    assert gate.waiting == 2
    release.set()
    await asyncio.gather(first, *rest)
    assert order == ["a", "b", "c"]
    assert told["b"] == [1] and told["c"][0] == 2
    assert gate.active == 0 and gate.waiting == 0
