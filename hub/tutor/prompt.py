"""What the model sees: a system prompt in the organization's language and grade level, and
the last turns of the conversation that fit a token budget. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from hub.tutor.client import ChatMessage
from hub.tutor.routing import estimate_tokens

_SYSTEM = {
    "ko": (
        "당신은 {grade} 학생을 돕는 친절한 AI 튜터입니다. 한국어로 답하세요. 정답만 알려주지 "
        "말고, 학생이 스스로 이해할 수 있도록 원리와 풀이 과정을 단계별로 설명하세요. "
        "학습과 관계없는 위험하거나 부적절한 요청에는 정중히 거절하세요."
    ),
    "en": (
        "You are a friendly AI tutor helping a {grade} student. Answer in English. Do not just "
        "give the answer: explain the idea and the steps so the student understands it. "
        "Politely decline anything dangerous or unrelated to learning."
    ),
}
_DEFAULT_GRADE = {"ko": "중고등학교", "en": "secondary school"}

REFUSAL = {
    "ko": "죄송해요, 이 질문에는 답해 드릴 수 없어요. 공부와 관련된 다른 질문을 해 주세요.",
    "en": "Sorry, I can't help with that one. Please ask me something about your studies.",
}


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


def system_prompt(language: str, grade: str | None) -> str:
    lang = language if language in _SYSTEM else "ko"
    return _SYSTEM[lang].format(grade=grade or _DEFAULT_GRADE[lang])


def build_messages(
    language: str, grade: str | None, history: list[Turn], question: str, budget: int
) -> list[ChatMessage]:
    """System prompt, then the newest turns (oldest first) that fit `budget` tokens beside the
    question, then the question."""
    system = system_prompt(language, grade)
    left = budget - estimate_tokens(system) - estimate_tokens(question)
    kept: list[Turn] = []
    for turn in reversed(history):
        cost = estimate_tokens(turn.content) + 4
        if cost > left:
            break
        kept.append(turn)
        left -= cost
    kept.reverse()
    # A conversation must not open with an assistant turn (some chat templates refuse it).
    while kept and kept[0].role != "user":
        kept.pop(0)
    return [
        {"role": "system", "content": system},
        *({"role": t.role, "content": t.content} for t in kept),
        {"role": "user", "content": question},
    ]
