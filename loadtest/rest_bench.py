"""REST benchmark for a running DreamSeed Hub: the hot authenticated read and the login.

Scenarios (each runs for --duration seconds with --concurrency clients):

* ``me``    - ``GET /api/v1/users/me`` with a bearer token: JWT check, session-revocation
              check and rate limiter in Redis, then PostgreSQL under row-level security.
* ``login`` - ``POST /api/v1/auth/login``: argon2id verification plus a new session row.

The hub limits every user (and every IP before login) to RATE_LIMIT_PER_MINUTE requests a
minute, 100 by default, so a benchmark against a default server measures mostly 429s. Start
the hub with the limit raised, for example::

    RATE_LIMIT_PER_MINUTE=60000 PORT=8765 DATA_DIR=/tmp/bench-data .venv/bin/dreamseed up

then, from another shell::

    .venv/bin/python loadtest/rest_bench.py --base-url http://127.0.0.1:8765

60000 is the highest value that works today: the limiter's Lua script needs 60000 /
RATE_LIMIT_PER_MINUTE to be a whole number of milliseconds, and any other value (1000000
included) makes every request fail with HTTP 500 ("ERR value is not an integer or out of
range" in the hub's log). 60000 a minute is a sustained 1000 requests/s per user (and per IP
for logins) after a burst of 60000, far above what one machine serves.

The benchmark reports any 429 it receives and says the limit is still in force. It only
targets loopback addresses and is bounded in time (--duration) and requests (--max-requests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

API = "/api/v1"
DEMO_PASSWORD = "dreamseed-demo"
DEMO_USERS = [
    "admin@demo.dreamseed.kr",
    "teacher@demo.dreamseed.kr",
    "student1@demo.dreamseed.kr",
    "student2@demo.dreamseed.kr",
    "student3@demo.dreamseed.kr",
    "parent@demo.dreamseed.kr",
    "sysadmin@demo.dreamseed.kr",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}
MAX_DURATION_S = 300.0
MAX_CONCURRENCY = 256
SCENARIOS = ("me", "login")


class BenchError(Exception):
    """The benchmark cannot run; the message says why."""


@dataclass
class Result:
    scenario: str
    concurrency: int
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.statuses.items()) if k != "200"}

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def summary(self) -> dict[str, Any]:
        ok = self.statuses.get("200", 0)
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "duration_s": round(self.elapsed_s, 3),
            "requests": self.requests,
            "ok": ok,
            "rps": round(self.requests / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "ok_rps": round(ok / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
            "errors": self.errors,
        }


def check_target(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise BenchError(f"refusing to target {base_url!r}: only http://127.0.0.1 is allowed")
    return base_url.rstrip("/")


async def login(session: aiohttp.ClientSession, base: str, email: str) -> tuple[int, str | None]:
    payload = {"email": email, "password": DEMO_PASSWORD}
    async with session.post(f"{base}{API}/auth/login", json=payload) as response:
        body = await response.read()
        if response.status != 200:
            return response.status, None
        token = json.loads(body)["access_token"]
        return 200, str(token)


async def demo_tokens(session: aiohttp.ClientSession, base: str) -> list[str]:
    tokens: list[str] = []
    for email in DEMO_USERS:
        status, token = await login(session, base, email)
        if status == 429:
            raise BenchError(
                "the hub answered 429 to the initial logins: restart it with "
                "RATE_LIMIT_PER_MINUTE=60000"
            )
        if status == 500:
            raise BenchError(
                f"login as {email} failed with HTTP 500: if the hub runs with a "
                "RATE_LIMIT_PER_MINUTE that does not divide 60000, its rate "
                "limiter fails; use 60000"
            )
        if token is None:
            raise BenchError(f"could not log in as {email} (HTTP {status}); is the demo seeded?")
        tokens.append(token)
    return tokens


class Budget:
    """Shared stop condition: a deadline and a total request count."""

    def __init__(self, duration_s: float, max_requests: int) -> None:
        self.deadline = time.perf_counter() + duration_s
        self.left = max_requests

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True


async def client_loop(
    session: aiohttp.ClientSession,
    base: str,
    scenario: str,
    index: int,
    tokens: list[str],
    budget: Budget,
    result: Result | None,
) -> None:
    email = DEMO_USERS[index % len(DEMO_USERS)]
    headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"} if tokens else {}
    payload = {"email": email, "password": DEMO_PASSWORD}
    while budget.take():
        started = time.perf_counter()
        try:
            if scenario == "me":
                request = session.get(f"{base}{API}/users/me", headers=headers)
            else:
                request = session.post(f"{base}{API}/auth/login", json=payload)
            async with request as response:
                await response.read()
                status = str(response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        if result is not None:
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1


async def run_scenario(
    base: str,
    scenario: str,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    max_requests: int,
) -> Result:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tokens = await demo_tokens(session, base) if scenario == "me" else []
        if warmup_s > 0:
            warm = Budget(warmup_s, max_requests)
            await asyncio.gather(
                *(
                    client_loop(session, base, scenario, i, tokens, warm, None)
                    for i in range(concurrency)
                )
            )
        result = Result(scenario, concurrency)
        budget = Budget(duration_s, max_requests)
        started = time.perf_counter()
        await asyncio.gather(
            *(
                client_loop(session, base, scenario, i, tokens, budget, result)
                for i in range(concurrency)
            )
        )
        result.elapsed_s = time.perf_counter() - started
    return result


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<8} {'conc':>4} {'reqs':>7} {'req/s':>8} {'ok/s':>8} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8}  errors (by status)"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
        lines.append(
            f"{r['scenario']:<8} {r['concurrency']:>4} {r['requests']:>7} "
            f"{r['rps']:>8.1f} {r['ok_rps']:>8.1f} {r['p50_ms']:>8.2f} "
            f"{r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f}  {errors}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", "-c", type=int, default=20)
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="stop a scenario after this many requests"
    )
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the results as JSON ('-': stdout, table to stderr)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        parser.error(f"--duration and --warmup must be at most {MAX_DURATION_S:.0f} s")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if args.max_requests < 1:
        parser.error("--max-requests must be positive")
    return args


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = check_target(args.base_url)
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    rows = []
    for scenario in scenarios:
        result = await run_scenario(
            base, scenario, args.concurrency, args.duration, args.warmup, args.max_requests
        )
        rows.append(result.summary())
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rows = asyncio.run(bench(args))
    except BenchError as exc:
        print(f"rest_bench: {exc}", file=sys.stderr)
        return 2
    except aiohttp.ClientConnectionError as exc:
        print(f"rest_bench: cannot reach {args.base_url}: {exc}", file=sys.stderr)
        return 2
    out = sys.stderr if args.json == "-" else sys.stdout
    print(table(rows), file=out)
    limited = sum(r["errors"].get("429", 0) for r in rows)
    if limited:
        print(
            f"\nWARNING: {limited} requests were refused with 429 (rate limited). Restart the "
            "hub with RATE_LIMIT_PER_MINUTE=60000; these figures are not meaningful.",
            file=out,
        )
    if args.json:
        text = json.dumps(rows, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
    return 1 if limited else 0


if __name__ == "__main__":
    sys.exit(main())
