"""Login throttling that slows a password guesser without locking the victim out.

Three counters, all in Redis:

- per account *and* client IP: after `login_free_failures` wrong passwords, each further one
  doubles a wait (1 s, 2 s, 4 s ... up to `login_backoff_max_s`) during which that IP's
  attempts on that account are refused unchecked. The owner at another address is unaffected.
- per account, all addresses: past `login_failures_per_account` failures in 15 minutes (a
  guesser spread over many addresses), only addresses this account signed in from before may
  still try. The owner's usual devices keep working; new addresses wait for the window.
- per client IP, all accounts: past `login_failures_per_ip` failures a minute (one address
  spraying many accounts, or one pupil behind a school's shared NAT address), that address may
  still sign in to accounts it signed in to before, so the right password of a known user is
  never blocked by someone else's guessing.

Only failures count: a correct password never uses anyone's budget. Login is exempt from the
generic per-IP request limit for the same reason (see api/routes/auth.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from typing import Any, cast

from hub import metrics
from hub.context import HubContext
from hub.errors import DomainError, ErrorCode

_ACCOUNT_WINDOW_S = 900
_IP_WINDOW_S = 60
_KNOWN_FOR_S = 30 * 24 * 3600


def _wait(reply: Any) -> Awaitable[Any]:
    # redis-py types its commands for both its sync and async clients.
    return cast(Awaitable[Any], reply)


def _account(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()[:32]


def _keys(ctx: HubContext, email: str, ip: str | None) -> tuple[str, str, str, str]:
    account, address = _account(email), ip or "unknown"
    return (
        ctx.keys.login_failures(f"pair:{account}:{address}"),
        ctx.keys.login_failures(f"account:{account}"),
        ctx.keys.login_failures(f"ip:{address}"),
        ctx.keys.login_failures(f"known:{account}"),
    )


def _refuse(retry_after_s: float, scope: str) -> DomainError:
    metrics.RATE_LIMITED.labels(scope).inc()
    return DomainError(
        ErrorCode.RATE_LIMITED,
        "Too many failed sign-ins; wait before trying again",
        retry_after=max(1, round(retry_after_s + 0.5)),
    )


async def check(ctx: HubContext, email: str, ip: str | None) -> None:
    """Refuse the attempt (429, retry_after) when a throttle applies; checks no password."""
    pair, account, address, known = _keys(ctx, email, ip)
    now_ms = int(ctx.clock().timestamp() * 1000)
    until = await _wait(ctx.redis.hget(pair, "until"))
    if until is not None and int(until) > now_ms:
        raise _refuse((int(until) - now_ms) / 1000, "login_account")
    if await _wait(ctx.redis.sismember(known, ip or "unknown")):
        return
    settings = ctx.settings
    for key, limit, scope in (
        (account, settings.login_failures_per_account, "login_account"),
        (address, settings.login_failures_per_ip, "login_ip"),
    ):
        count = await ctx.redis.get(key)
        if count is not None and int(count) >= limit:
            raise _refuse(max(1, await ctx.redis.ttl(key)), scope)


async def failed(ctx: HubContext, email: str, ip: str | None) -> None:
    """Count a wrong password; past the free ones, start or double the pair's wait."""
    pair, account, address, _ = _keys(ctx, email, ip)
    settings = ctx.settings
    failures = int(await _wait(ctx.redis.hincrby(pair, "n", 1)))
    over = failures - settings.login_free_failures
    if over > 0:
        wait_s = min(settings.login_backoff_max_s, 2.0 ** (over - 1))
        until = int(ctx.clock().timestamp() * 1000 + wait_s * 1000)
        await _wait(ctx.redis.hset(pair, "until", str(until)))
    await ctx.redis.expire(pair, _ACCOUNT_WINDOW_S + int(settings.login_backoff_max_s))
    for key, window in ((account, _ACCOUNT_WINDOW_S), (address, _IP_WINDOW_S)):
        if int(await ctx.redis.incr(key)) == 1:
            await ctx.redis.expire(key, window)


async def succeeded(ctx: HubContext, email: str, ip: str | None) -> None:
    """The right password: forget this pair's failures and remember the address as known."""
    pair, _, _, known = _keys(ctx, email, ip)
    await ctx.redis.delete(pair)
    await _wait(ctx.redis.sadd(known, ip or "unknown"))
    await ctx.redis.expire(known, _KNOWN_FOR_S)
