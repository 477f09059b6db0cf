"""Which model answers: by the question's size and the organization's plan. Pure.

Short questions go to the small model (7B), longer ones to the large one (32B), the longest
to the premium one (70B) for organizations on the premium plan. When a server is down the
next tier answers instead, and the record says which one it fell back from.
"""

from __future__ import annotations

import math
from enum import StrEnum

from hub.settings import Settings
from hub.tutor.client import ModelServer


class Tier(StrEnum):
    SMALL = "small"
    LARGE = "large"
    PREMIUM = "premium"


class Plan(StrEnum):
    BASIC = "basic"
    PREMIUM = "premium"


_FALLBACKS = {
    Tier.SMALL: (Tier.SMALL, Tier.LARGE),
    Tier.LARGE: (Tier.LARGE, Tier.SMALL),
    Tier.PREMIUM: (Tier.PREMIUM, Tier.LARGE, Tier.SMALL),
}


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 bytes a token in English, ~1 token a Hangul syllable
    (3 bytes) in Korean; 3.5 bytes a token errs on the side of the larger model."""
    return math.ceil(len(text.encode("utf-8")) / 3.5)


def choose_tier(tokens: int, plan: Plan, large_from: int, premium_from: int) -> Tier:
    if plan is Plan.PREMIUM and tokens > premium_from:
        return Tier.PREMIUM
    return Tier.LARGE if tokens >= large_from else Tier.SMALL


def servers_from(settings: Settings) -> dict[Tier, ModelServer]:
    """One server per configured tier: its own URL, else TUTOR_URL; none: not configured."""
    urls = {
        Tier.SMALL: (settings.tutor_url_small, settings.tutor_model_small),
        Tier.LARGE: (settings.tutor_url_large, settings.tutor_model_large),
        Tier.PREMIUM: (settings.tutor_url_premium, settings.tutor_model_premium),
    }
    servers = {}
    for tier, (url, model) in urls.items():
        base = url or settings.tutor_url
        if base:
            servers[tier] = ModelServer(tier, model, base)
    return servers


def candidates(tier: Tier, servers: dict[Tier, ModelServer]) -> list[ModelServer]:
    """The servers to try for `tier`, best first, each at most once."""
    order: list[ModelServer] = []
    for choice in _FALLBACKS[tier]:
        server = servers.get(choice)
        if server is not None and server not in order:
            order.append(server)
    return order
