"""The tutor's two filters. Pure: no I/O.

* `injection_reason(question)`: a question that tries to steer the model out of its role
  ("ignore previous instructions", "system override", "jailbreak", "bypass filter", role-play
  escapes, in Korean or English), also when the words hide in full-width or styled letters,
  zero-width characters, spacing, or a base64 blob.
* `OutputGuard`: the answer as it streams. Text is released only once `window` characters
  follow it, so a harmful phrase split across tokens is caught before any of it is released.
  The guard scans only the new tail each time (a phrase spans at most `window` characters).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from hub.chat import profanity

_INVISIBLE: Final = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_SPACES: Final = re.compile(r"[\s_\-.·*]+")


def normalize(text: str) -> str:
    """Fold full-width and styled letters (NFKC), drop invisible characters, lowercase,
    collapse spacing and separators to one space."""
    folded = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).lower()
    return _SPACES.sub(" ", folded)


def _pattern(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


# Patterns run on `normalize`d text: one space stands for any run of spacing or separators.
_INJECTION: Final = {
    "ignore_instructions": _pattern(
        r"\b(ignore|disregard|forget|override) (all |any |the |your )*(previous|prior|above|"
        r"earlier|preceding|system) (instructions?|prompts?|rules?|messages?|directions?)",
        r"(이전|위의|앞의|기존|모든) ?(지시|지침|명령|규칙|프롬프트|설정)[을를은는]? ?(모두 )?"
        r"(무시|잊어|잊고|버려|취소)",
        r"(지시|지침|명령|규칙|프롬프트)[을를]? ?무시",
    ),
    "system_override": _pattern(
        r"\bsystem ?(override|prompt|message|mode)\b",
        r"\b(developer|dev|admin|god|sudo) mode\b",
        r"시스템 ?(프롬프트|오버라이드|명령|설정)",
        r"(개발자|관리자) ?모드",
    ),
    "jailbreak": _pattern(r"\bjail ?break", r"\bdan mode\b", r"\bdo anything now\b", r"탈옥"),
    "bypass_filter": _pattern(
        r"\b(bypass|disable|turn off|get around|evade) (the |your |any |all )*"
        r"(filters?|safety|guardrails?|restrictions?|censorship|moderation)",
        r"(필터|검열|안전 ?장치|제한)[을를]? ?(우회|해제|끄|꺼|풀어|무력화)",
    ),
    "role_play_escape": _pattern(
        r"\b(pretend|act as if|imagine) (that )?you (are|have) (no|not|an? unrestricted|"
        r"free from)",
        r"\byou are (now )?(no longer|not) (an? )?(ai|assistant|tutor|bound)",
        r"\bfrom now on,? you (are|will) (be )?(an? )?(unrestricted|evil|unfiltered)",
        r"\b(stay|remain) in character no matter",
        r"(너는|당신은) ?(이제|지금부터) ?(제한|규칙|필터)[이가]? ?없",
        r"(이제|지금부터) ?(너는|당신은) ?(제한|규칙|필터)[이가]? ?없",
        r"(제한|규칙|필터)[이가]? ?없는 ?(ai|인공지능|챗봇|모드)",
        r"역할 ?(극|놀이)[을를이]? ?(하며|통해|빌려) ?(규칙|제한|지시)",
    ),
}

_BASE64_RUN: Final = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def _decoded_blobs(text: str) -> list[str]:
    blobs = []
    for match in _BASE64_RUN.finditer(text):
        raw = match[0]
        try:
            decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
            blobs.append(decoded.decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    return blobs


def injection_reason(question: str) -> str | None:
    """Why `question` looks like a prompt injection (a pattern name), or None."""
    candidates = [question, *_decoded_blobs(question)]
    for candidate in candidates:
        text = normalize(candidate)
        squeezed = text.replace(" ", "")
        for name, pattern in _INJECTION.items():
            if pattern.search(text) or pattern.search(squeezed):
                return name if candidate is question else f"{name}_base64"
    return None


# Harmful output a tutor must never show a student, on `normalize`d text (Korean and English).
_HARMFUL: Final = _pattern(
    r"\bhow to (make|build) (a |an )?(bomb|explosive|pipe bomb|weapon)",
    r"\b(make|build|assemble) (a |an )?(pipe )?bomb",
    r"\bkill (yourself|your self)\b",
    r"\bways to (kill|hurt|harm) (yourself|someone)",
    r"\b(synthesi[sz]e|cook|make) (meth|methamphetamine|fentanyl)",
    r"폭탄 ?(만드는|제조) ?(법|방법)",
    r"(자살|자해)(하는|할 수 있는) ?(법|방법)",
    r"(마약|필로폰)[을를]? ?(만드는|제조하는) ?(법|방법)",
    r"죽어 ?버려",
)
LONGEST_HARMFUL_SPAN: Final = 40
CHECK_EVERY: Final = 12


def harmful_reason(text: str) -> str | None:
    """Why `text` may not reach a student ('harmful' or 'profanity'), or None."""
    if _HARMFUL.search(normalize(text)):
        return "harmful"
    if not profanity.moderate(text).clean:
        return "profanity"
    return None


class HarmfulOutputError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class OutputGuard:
    """Holds back the last `window` characters of the answer until more follow (or it ends)."""

    window: int
    text: str = ""
    released: int = 0
    _checked: int = 0

    def feed(self, token: str) -> str:
        """Add a token; return the text now safe to show. Raises HarmfulOutputError.

        The text is checked once `CHECK_EVERY` new characters have come (the filter is the
        worker's largest cost per token after its I/O); nothing unchecked is ever released."""
        self.text += token
        if len(self.text) - self._checked >= CHECK_EVERY or self.window == 0:
            self._check()
        return self._release(min(self._checked, max(self.released, len(self.text) - self.window)))

    def finish(self) -> str:
        """The answer is complete: the rest, if it passes."""
        self._check()
        return self._release(len(self.text))

    def _check(self) -> None:
        # A phrase found now ends in the unchecked tail, so it starts at most one span before.
        start = max(0, self._checked - max(self.window, LONGEST_HARMFUL_SPAN))
        reason = harmful_reason(self.text[start:])
        if reason is not None:
            raise HarmfulOutputError(reason)
        self._checked = len(self.text)

    def _release(self, upto: int) -> str:
        out = self.text[self.released : upto]
        self.released = max(self.released, upto)
        return out
