"""Exam benchmark: the answer hot path of CAT and CBT attempts over REST, beside GET /users/me.

The benchmark seeds its own school: a teacher, S students (true ability θ ~ N(0, 1) each) and a
generated 3PL bank (a ~ LogNormal(0, 0.3), b ~ N(0, 1), c ~ U(0.10, 0.25), D = 1.702, four
choices, a random key) COPY'd into PostgreSQL as the owner (``seed.py``). The teacher then
creates the exams over REST. Scenarios, interleaved in every repeat::

    me   GET /api/v1/users/me by the same students with C clients for --baseline-s seconds:
         the floor of an authenticated REST call on this machine at this moment.
    cat  a CAT exam over the whole bank (se_stop 0.3, max_items 50, top_k 3, r_max 0.2): every
         student starts an attempt (phase "start"), then C clients answer, each one student at a
         time until the hub ends the test (phase "answer"). An answer is drawn from the 3PL
         probability at the student's θ: the key when correct, another choice when wrong.
    cbt  the same students on a 20-item CBT form of the same bank; the 20th answer ends it.

Reported per phase: requests/s, client latency p50/p95/p99, the hub's own mean handler time
(``dreamseed_http_request_seconds``), the CAT selection time (``dreamseed_cat_selection_seconds``,
mean = sum/count, and the bucket holding p95), mean test length and θ RMSE (CAT), hub CPU per
request (``/proc``), CPU of the hub's PostgreSQL backends per request, and the client's own
CPU (it must not be the bottleneck). Each figure is the median over --repeat runs.

By default the benchmark owns everything, like ``hub_bench.py`` (whose hub handling it reuses):
it creates ``ds_exambench_<hex>``, migrates and seeds it, starts one hub with uvicorn on uvloop
(RATE_LIMIT_PER_MINUTE=60000, see README), pins it to core 0 and itself to core 1, then stops
the hub, drops the database and deletes its Redis namespace. ``--base-url`` targets a hub you
started instead (``--owner-dsn`` of its database and its JWT_SECRET in the environment; the
seeded school is left there; ``--hub-pid`` for its CPU). 127.0.0.1 only; every phase is
bounded (--phase-timeout, --max-seconds)::

    .venv/bin/python loadtest/exam_bench.py --students 200 --concurrency 50 --repeat 3 \\
        --json /tmp/exam.json [--py-spy /tmp/exam-cat.raw]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp
import asyncpg
import numpy as np
from hub_bench import (
    CLK_TCK,
    REPO,
    Bench,
    BenchError,
    cpu_of_self,
    latency_summary,
    machine,
    medians,
    pin_client,
    print_table,
)
from seed import SeededUser, Seeder, create_database, drop_database, require_local

from hub.tokens import TokenIssuer

API = "/api/v1"
D = 1.702
CHOICES = ["A", "B", "C", "D"]
ITEM_COLUMNS = ["id", "zone_id", "org_id", "created_by", "stem", "choices", "answer", "a", "b", "c"]
PARAMETER_COLUMNS = ["item_id", "version", "zone_id", "org_id", "a", "b", "c", "source", "status"]
ANSWER_ROUTE = "/attempts/{attempt_id}/answers"
START_ROUTE = "/exams/{exam_id}/attempts"
ME_ROUTE = "/users/me"
HIST_HTTP = "dreamseed_http_request_seconds"
HIST_CAT = "dreamseed_cat_selection_seconds"
T = TypeVar("T")


# --- the school -------------------------------------------------------------------------------


@dataclass
class Bank:
    """The generated 3PL bank; the bench knows every key."""

    ids: list[UUID]
    a: np.ndarray[Any, np.dtype[np.float64]]
    b: np.ndarray[Any, np.dtype[np.float64]]
    c: np.ndarray[Any, np.dtype[np.float64]]
    key: list[int]
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {str(item): i for i, item in enumerate(self.ids)}

    @classmethod
    def generate(cls, n: int, rng: np.random.Generator) -> Bank:
        a = rng.lognormal(0.0, 0.3, n)
        b = rng.normal(0.0, 1.0, n)
        c = rng.uniform(0.10, 0.25, n)
        key = [int(k) for k in rng.integers(0, len(CHOICES), n)]
        return cls([uuid.uuid4() for _ in range(n)], a, b, c, key)

    def p_correct(self, i: int, theta: float) -> float:
        c = float(self.c[i])
        return c + (1.0 - c) / (1.0 + math.exp(-D * float(self.a[i]) * (theta - float(self.b[i]))))


@dataclass
class Student:
    user: SeededUser
    theta: float
    headers: dict[str, str]


@dataclass
class School:
    org_id: UUID
    teacher: dict[str, str]
    students: list[Student]
    bank: Bank


async def seed_school(dsn: str, secret: str, args: argparse.Namespace) -> School:
    rng = np.random.default_rng(args.seed)
    n = args.items
    bank = Bank.generate(n, rng)
    thetas = rng.normal(0.0, 1.0, args.students)
    conn = await asyncpg.connect(dsn)
    try:
        seeder = await Seeder.start(conn, TokenIssuer(secret, 6 * 3600))
        teacher = (await seeder.users(1, "teacher"))[0]
        users = await seeder.users(args.students, "student")
        org, zone = seeder.org_id, seeder.zone_id
        async with conn.transaction():
            params = [(float(bank.a[i]), float(bank.b[i]), float(bank.c[i])) for i in range(n)]
            await conn.copy_records_to_table(
                "items",
                columns=ITEM_COLUMNS,
                records=[
                    (item, zone, org, teacher.id, f"Bench item {i}", CHOICES, bank.key[i], *abc)
                    for i, (item, abc) in enumerate(zip(bank.ids, params, strict=True))
                ],
            )
            await conn.copy_records_to_table(
                "item_parameters",
                columns=PARAMETER_COLUMNS,
                records=[
                    (item, 1, zone, org, *abc, "author", "current")
                    for item, abc in zip(bank.ids, params, strict=True)
                ],
            )
    finally:
        await conn.close()
    students = [
        Student(u, float(t), {"Authorization": f"Bearer {u.token}"})
        for u, t in zip(users, thetas, strict=True)
    ]
    return School(org, {"Authorization": f"Bearer {teacher.token}"}, students, bank)


async def create_exam(
    session: aiohttp.ClientSession, base: str, school: School, mode: str, args: argparse.Namespace
) -> str:
    bank = school.bank
    if mode == "cat":
        items = bank.ids
        extra: dict[str, Any] = {
            "cat": {
                "se_stop": args.se_stop,
                "max_items": args.max_items,
                "top_k": args.top_k,
                "r_max": args.r_max,
            }
        }
    else:
        picks = random.Random(f"{args.seed}-form").sample(range(len(bank.ids)), args.cbt_items)
        items, extra = [bank.ids[i] for i in picks], {}
    body = {
        "org_id": str(school.org_id),
        "title": f"Bench {mode} {secrets.token_hex(2)}",
        "mode": mode,
        "item_ids": [str(i) for i in items],
        "time_limit_s": args.time_limit_s,
        **extra,
    }
    async with session.post(f"{base}{API}/exams", json=body, headers=school.teacher) as response:
        reply = await response.read()
        if response.status != 201:
            raise BenchError(f"creating the {mode} exam failed: {response.status} {reply[:300]!r}")
        return str(json.loads(reply)["id"])


# --- the hub's side: /metrics and /proc -------------------------------------------------------


def proc_cpu_s(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


_LE = re.compile(r'le="([^"]+)"')


def histogram(
    m: dict[str, float], name: str, labels: str = ""
) -> tuple[float, float, dict[float, float]]:
    """(sum, count, {upper bound: cumulative count}) of one histogram series."""
    sel = f"{{{labels}}}" if labels else ""
    prefix = f"{name}_bucket{{{labels + ',' if labels else ''}"
    buckets = {}
    for key, value in m.items():
        if key.startswith(prefix):
            found = _LE.search(key[len(prefix) - 1 :])
            if found:
                buckets[float(found.group(1))] = value
    return m.get(f"{name}_sum{sel}", 0.0), m.get(f"{name}_count{sel}", 0.0), buckets


@dataclass
class Snapshot:
    at: float
    metrics: dict[str, float]
    hub_cpu: float | None
    pg_cpu: dict[int, float]
    client_cpu: float


@dataclass
class Meter:
    """Reads the hub's /metrics, its CPU and its PostgreSQL backends' CPU around a phase."""

    session: aiohttp.ClientSession
    base: str
    owner: asyncpg.Connection
    db_name: str
    hub_pid: int | None

    async def snapshot(self) -> Snapshot:
        async with self.session.get(f"{self.base}/metrics") as response:
            text = await response.text()
        pids = await self.owner.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name = 'dreamseed-hub'",
            self.db_name,
        )
        pg = {}
        for row in pids:
            cpu = proc_cpu_s(row["pid"])
            if cpu is not None:
                pg[row["pid"]] = cpu
        hub = proc_cpu_s(self.hub_pid) if self.hub_pid else None
        return Snapshot(time.perf_counter(), parse_metrics(text), hub, pg, cpu_of_self())

    @staticmethod
    def hub_side(before: Snapshot, after: Snapshot, route: str, requests: int) -> dict[str, Any]:
        label = f'route="{route}"'
        s0, n0, _ = histogram(before.metrics, HIST_HTTP, label)
        s1, n1, _ = histogram(after.metrics, HIST_HTTP, label)
        out: dict[str, Any] = {
            "server_mean_ms": round((s1 - s0) / (n1 - n0) * 1000, 3) if n1 > n0 else None
        }
        per = max(requests, 1)
        if before.hub_cpu is not None and after.hub_cpu is not None:
            out["hub_cpu_ms_per_req"] = round((after.hub_cpu - before.hub_cpu) / per * 1000, 3)
        pg = sum(cpu - before.pg_cpu.get(pid, 0.0) for pid, cpu in after.pg_cpu.items())
        out["pg_cpu_ms_per_req"] = round(pg / per * 1000, 3)
        wall = after.at - before.at
        out["client_cpu_util"] = round((after.client_cpu - before.client_cpu) / wall, 3)
        return out

    @staticmethod
    def cat_selection(before: Snapshot, after: Snapshot) -> dict[str, Any]:
        s0, n0, b0 = histogram(before.metrics, HIST_CAT)
        s1, n1, b1 = histogram(after.metrics, HIST_CAT)
        count = n1 - n0
        if count <= 0:
            return {"cat_sel_n": 0}
        p95 = next((le for le in sorted(b1) if b1[le] - b0.get(le, 0.0) >= 0.95 * count), math.inf)
        return {
            "cat_sel_n": int(count),
            "cat_sel_mean_ms": round((s1 - s0) / count * 1000, 3),
            "cat_sel_p95_le_ms": p95 * 1000,
        }


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Sitting:
    index: int
    student: Student
    attempt_id: str = ""
    question: str | None = None
    answered: int = 0
    finished: bool = False
    theta_hat: float | None = None


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    ok: int = 0


async def _request(
    session: aiohttp.ClientSession, method: str, url: str, tally: Tally, **kw: Any
) -> tuple[int, bytes]:
    started = time.perf_counter()
    try:
        async with session.request(method, url, **kw) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.errors[type(exc).__name__] += 1
        return 0, b""
    tally.latencies.append(time.perf_counter() - started)
    if status < 300:
        tally.ok += 1
    else:
        code = ""
        with contextlib.suppress(ValueError, KeyError, TypeError):
            code = " " + str(json.loads(body)["error"]["code"])
        tally.errors[f"{status}{code}"] += 1
    return status, body


async def in_turn(
    clients: int, jobs: Sequence[T], work: Callable[[T], Awaitable[None]], deadline: float
) -> None:
    """`clients` concurrent clients take the jobs in turn until none is left or time is up."""
    pending = iter(jobs)

    async def client() -> None:
        for job in pending:
            if time.perf_counter() >= deadline:
                return
            await work(job)

    await asyncio.gather(*(client() for _ in range(clients)))


@dataclass
class Driver:
    """One invocation: the client session, the hub's address, the school, the meter."""

    args: argparse.Namespace
    session: aiohttp.ClientSession
    base: str
    school: School
    meter: Meter
    hub_pid: int | None
    spy: str | None

    async def start(self, exam_id: str, sittings: list[Sitting]) -> Tally:
        tally = Tally()
        url = f"{self.base}{API}/exams/{exam_id}/attempts"

        async def start(s: Sitting) -> None:
            status, body = await _request(
                self.session, "POST", url, tally, headers=s.student.headers
            )
            if status == 201:
                reply = json.loads(body)
                s.attempt_id = reply["id"]
                s.question = reply["questions"][0]["item_id"] if reply["questions"] else None

        deadline = time.perf_counter() + self.args.phase_timeout
        await in_turn(self.args.concurrency, sittings, start, deadline)
        return tally

    async def answer(self, sittings: list[Sitting], tag: str) -> Tally:
        tally = Tally()
        bank = self.school.bank
        deadline = time.perf_counter() + self.args.phase_timeout

        async def sit(s: Sitting) -> None:
            rng = random.Random(f"{tag}-{s.index}")
            url = f"{self.base}{API}/attempts/{s.attempt_id}/answers"
            while s.question is not None and time.perf_counter() < deadline:
                item = bank.index[s.question]
                key = bank.key[item]
                correct = rng.random() < bank.p_correct(item, s.student.theta)
                choice = key if correct else (key + rng.randrange(1, len(CHOICES))) % len(CHOICES)
                body = {"item_id": s.question, "choice": choice}
                status, raw = await _request(
                    self.session, "POST", url, tally, json=body, headers=s.student.headers
                )
                if status != 201:
                    return
                attempt = json.loads(raw)["attempt"]
                s.answered = int(attempt["answered"])
                if attempt["status"] == "submitted":
                    s.finished, s.question, s.theta_hat = True, None, attempt["theta"]
                else:
                    s.question = attempt["questions"][0]["item_id"]

        ready = [s for s in sittings if s.attempt_id]
        await in_turn(self.args.concurrency, ready, sit, deadline)
        return tally

    async def me(self, duration_s: float) -> tuple[Tally, float]:
        tally = Tally()
        url = f"{self.base}{API}/users/me"
        students = self.school.students
        deadline = time.perf_counter() + duration_s

        async def client(k: int) -> None:
            headers = students[k % len(students)].headers
            while time.perf_counter() < deadline:
                await _request(self.session, "GET", url, tally, headers=headers)

        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(self.args.concurrency)))
        return tally, time.perf_counter() - started

    def profiling(self, scenario: str, repeat: int) -> Spy | None:
        wanted = self.spy and self.hub_pid and repeat == 1
        if not wanted or scenario != self.args.py_spy_scenario:
            return None
        assert self.spy is not None and self.hub_pid is not None
        return Spy(self.spy, self.hub_pid, self.args.py_spy)

    async def run_me(self, repeat: int, duration_s: float) -> dict[str, Any]:
        spy = self.profiling("me", repeat)
        before = await self.meter.snapshot()
        tally, elapsed = await self.me(duration_s)
        after = await self.meter.snapshot()
        if spy:
            await spy.stop()
        return {
            "scenario": "me",
            "repeat": repeat,
            "requests": tally.ok,
            "req_per_s": round(tally.ok / elapsed, 1),
            **prefixed(
                "",
                latency_summary(tally.latencies),
                Meter.hub_side(before, after, ME_ROUTE, tally.ok),
            ),
            "errors": dict(tally.errors),
        }

    async def run_exam(self, mode: str, repeat: int, students: list[Student]) -> dict[str, Any]:
        exam_id = await create_exam(self.session, self.base, self.school, mode, self.args)
        sittings = [Sitting(i, s) for i, s in enumerate(students)]
        s0 = await self.meter.snapshot()
        starts = await self.start(exam_id, sittings)
        s1 = await self.meter.snapshot()
        spy = self.profiling(mode, repeat)
        answers = await self.answer(sittings, f"{self.args.seed}-{mode}-{repeat}")
        s2 = await self.meter.snapshot()
        if spy:
            await spy.stop()
        row: dict[str, Any] = {
            "scenario": mode,
            "repeat": repeat,
            "students": len(sittings),
            "started": starts.ok,
            "finished": sum(s.finished for s in sittings),
            "answers": answers.ok,
            "answers_per_s": round(answers.ok / (s2.at - s1.at), 1),
        }
        row |= prefixed("answer_", latency_summary(answers.latencies))
        row |= prefixed("answer_", Meter.hub_side(s1, s2, ANSWER_ROUTE, answers.ok))
        row |= test_lengths(sittings, mode, self.args.max_items)
        if mode == "cat":
            row |= Meter.cat_selection(s1, s2)
        row["starts_per_s"] = round(starts.ok / (s1.at - s0.at), 1)
        row |= prefixed("start_", latency_summary(starts.latencies))
        row |= prefixed("start_", Meter.hub_side(s0, s1, START_ROUTE, starts.ok))
        row["errors"] = dict(starts.errors + answers.errors)
        return row


def prefixed(prefix: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{k}": v for part in parts for k, v in part.items()}


def test_lengths(sittings: list[Sitting], mode: str, max_items: int) -> dict[str, Any]:
    done = [s for s in sittings if s.finished]
    if not done:
        return {"mean_len": None}
    lengths = [s.answered for s in done]
    out: dict[str, Any] = {"mean_len": round(sum(lengths) / len(lengths), 2)}
    if mode == "cat":
        out["at_max_items"] = round(sum(n >= max_items for n in lengths) / len(lengths), 3)
        errors = [s.theta_hat - s.student.theta for s in done if s.theta_hat is not None]
        if errors:
            out["theta_rmse"] = round(math.sqrt(sum(e * e for e in errors) / len(errors)), 3)
    return out


class Spy:
    """py-spy recording the hub (raw/collapsed stacks) until stopped."""

    def __init__(self, binary: str, pid: int, out: Path) -> None:
        self.out = out
        command = [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
        command += ["--nonblocking", "--output", str(out)]
        self.proc = subprocess.Popen(  # noqa: S603 - a fixed command line
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        print(f"py-spy: {self.out} (exit {self.proc.returncode})", file=sys.stderr)


# --- orchestration ----------------------------------------------------------------------------


async def drive(d: Driver) -> list[dict[str, Any]]:
    args = d.args
    modes = ("cat", "cbt") if args.scenario == "all" else (args.scenario,)
    students = d.school.students
    if args.warmup_students:
        await d.run_me(0, 1.0)
        for mode in modes:
            row = await d.run_exam(mode, 0, students[: args.warmup_students])
            print(
                f"warm-up {mode}: {row['answers']} answers, errors {row['errors']}", file=sys.stderr
            )
    runs = []
    for repeat in range(1, args.repeat + 1):
        if args.baseline_s > 0:
            runs.append(await d.run_me(repeat, args.baseline_s))
        for mode in modes:
            runs.append(await d.run_exam(mode, repeat, students))
        for row in runs[-len(modes) - (args.baseline_s > 0) :]:
            summary = {k: row.get(k) for k in ("scenario", "req_per_s", "answers_per_s", "p50_ms")}
            summary |= {k: row.get(k) for k in ("answer_p50_ms", "mean_len", "errors")}
            print(f"run {repeat}: {json.dumps(summary)}", file=sys.stderr)
    return runs


def check_target(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise BenchError(f"refusing to target {base_url!r}: only http://127.0.0.1 is allowed")
    return base_url.rstrip("/")


def py_spy_binary(args: argparse.Namespace) -> str | None:
    if not args.py_spy:
        return None
    found = args.py_spy_bin or shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise BenchError("--py-spy: py-spy not found (pip install py-spy, or --py-spy-bin)")
    return found


async def measure(
    args: argparse.Namespace, base: str, dsn: str, secret: str, hub: Bench | None
) -> list[dict[str, Any]]:
    """Seed, start the hub when we own it, and drive every repeat."""
    school = await seed_school(dsn, secret, args)
    hub_pid = args.hub_pid
    if hub is not None:
        started = await hub.start_hubs(1)
        base, hub_pid = f"http://127.0.0.1:{started[0].port}", started[0].pid
    owner = await asyncpg.connect(dsn)
    connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            db_name = urlsplit(dsn).path.lstrip("/")
            meter = Meter(session, base, owner, db_name, hub_pid)
            spy = py_spy_binary(args)
            driver = Driver(args, session, base, school, meter, hub_pid, spy)
            async with asyncio.timeout(args.max_seconds):
                return await drive(driver)
    finally:
        await owner.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    if args.base_url:
        if not args.owner_dsn:
            raise BenchError("--base-url needs --owner-dsn (the hub database's owner URL)")
        require_local(args.owner_dsn)
        secret = os.environ.get("JWT_SECRET", "")
        if len(secret) < 32:
            raise BenchError("--base-url needs the hub's JWT_SECRET in the environment")
        runs = await measure(args, check_target(args.base_url), args.owner_dsn, secret, None)
        return report(args, runs, started, None)
    require_local(args.pg_admin)
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        raise BenchError("the benchmark only talks to a Redis on 127.0.0.1")
    hub = Bench(args)
    hub.pinned = pin_client(args)
    hub.secret = secrets.token_urlsafe(40)
    hub.namespace = f"dsexam-{secrets.token_hex(4)}"
    hub.db_name = f"ds_exambench_{secrets.token_hex(4)}"
    try:
        hub.owner_dsn = await create_database(args.pg_admin, hub.db_name)
        runs = await measure(args, "", hub.owner_dsn, hub.secret, hub)
    finally:
        await hub.stop_hubs()
        with contextlib.suppress(Exception):
            await hub.cleanup_redis()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                await drop_database(args.pg_admin, hub.db_name)
    return report(args, runs, started, hub)


def report(
    args: argparse.Namespace, runs: list[dict[str, Any]], started: float, hub: Bench | None
) -> dict[str, Any]:
    params = {
        k: v
        for k, v in vars(args).items()
        if k not in ("json", "pg_admin", "owner_dsn", "redis_url")
    }
    scenarios = dict.fromkeys(r["scenario"] for r in runs)
    return {
        "params": params,
        "machine": machine(),
        "pinned": {"hub": args.hub_core, "client": args.client_core}
        if hub is not None and hub.pinned
        else None,
        "hub_logs": str(hub.log_dir) if hub is not None else None,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "runs": runs,
        "median": {s: medians([r for r in runs if r["scenario"] == s]) for s in scenarios},
    }


# --- output -----------------------------------------------------------------------------------

COLUMNS = (
    ("phase", "", 10, ""),
    ("req/s", "rate", 7, ".1f"),
    ("p50", "p50_ms", 7, ".1f"),
    ("p95", "p95_ms", 7, ".1f"),
    ("p99", "p99_ms", 7, ".1f"),
    ("srv ms", "server_mean_ms", 7, ".2f"),
    ("hub CPU", "hub_cpu_ms_per_req", 8, ".2f"),
    ("PG CPU", "pg_cpu_ms_per_req", 7, ".2f"),
    ("client", "client_cpu_util", 7, ".2f"),
    ("len", "mean_len", 6, ".1f"),
    ("CAT sel", "cat_sel_mean_ms", 8, ".3f"),
    ("θ RMSE", "theta_rmse", 7, ".3f"),
)


def phases(median: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for scenario, m in median.items():
        if scenario == "me":
            out.append(("me", {**m, "rate": m.get("req_per_s")}))
            continue
        for phase in ("start", "answer"):
            row = {k.removeprefix(f"{phase}_"): v for k, v in m.items() if k.startswith(phase)}
            row["rate"] = m.get(f"{phase}s_per_s")
            if phase == "answer":
                row |= {k: m.get(k) for k in ("mean_len", "cat_sel_mean_ms", "theta_rmse")}
            out.append((f"{scenario} {phase}", row))
    return out


def table(result: dict[str, Any]) -> str:
    head = " ".join(
        f"{title:>{w}}" if i else f"{title:<{w}}" for i, (title, _, w, _) in enumerate(COLUMNS)
    )
    lines = [head, "-" * len(head)]
    for name, row in phases(result["median"]):
        cells = [f"{name:<{COLUMNS[0][2]}}"]
        for _, key, width, fmt in COLUMNS[1:]:
            value = row.get(key)
            shown = format(value, fmt) if isinstance(value, (int, float)) else "-"
            cells.append(f"{shown:>{width}}")
        lines.append(" ".join(cells))
    params = result["params"]
    lines.insert(
        0,
        f"exam_bench: {params['students']} students, {params['concurrency']} clients, median of "
        f"{params['repeat']} run(s); ms per request (CPU: ms per request; client: cores)",
    )
    return "\n".join(lines)


def print_report(result: dict[str, Any]) -> None:
    for scenario, median in result["median"].items():
        runs = [r for r in result["runs"] if r["scenario"] == scenario]
        print_table(scenario, runs, median)
    print(f"\nmachine: {json.dumps(result['machine'])}; pinned: {result['pinned']}")
    print(f"hub logs: {result['hub_logs']}\n")
    print(table(result))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scenario", choices=("cat", "cbt", "all"), default="all")
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--concurrency", "-c", type=int, default=50, help="concurrent clients")
    p.add_argument("--repeat", type=int, default=3, help="runs; medians reported")
    p.add_argument("--baseline-s", type=float, default=5.0, help="GET /users/me seconds (0: off)")
    p.add_argument(
        "--warmup-students", type=int, default=20, help="students in an unmeasured first round"
    )
    p.add_argument("--items", type=int, default=500, help="CAT bank size")
    p.add_argument("--cbt-items", type=int, default=20, help="CBT form length")
    p.add_argument("--se-stop", type=float, default=0.3)
    p.add_argument("--max-items", type=int, default=50)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--r-max", type=float, default=0.2)
    p.add_argument("--time-limit-s", type=int, default=3600, help="both exams' time limit")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--phase-timeout", type=float, default=300.0, help="seconds per phase at most")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="give up after this long")
    p.add_argument("--json", help="write the results here ('-': stdout, tables to stderr)")
    p.add_argument(
        "--pg-admin",
        default=os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="URL of a role that may create databases (loopback only)",
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    p.add_argument("--rate-limit-per-minute", type=int, default=60000)
    p.add_argument("--message-rate-per-s", type=int, default=10)
    p.add_argument("--hub-core", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    p.add_argument("--no-pin", action="store_true", help="do not set CPU affinities")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--hub-src", type=Path, default=REPO, help="source tree the hub runs from")
    p.add_argument("--base-url", help="a hub already running (127.0.0.1) instead of our own")
    p.add_argument("--owner-dsn", help="with --base-url: its database's owner URL")
    p.add_argument("--hub-pid", type=int, help="with --base-url: its pid, for CPU figures")
    p.add_argument("--py-spy", type=Path, help="record the hub with py-spy to this file")
    p.add_argument("--py-spy-scenario", choices=("me", "cat", "cbt"), default="cat")
    p.add_argument("--py-spy-bin", default="", help="path of py-spy if not on PATH")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if not 1 <= args.concurrency <= 256:
        p.error("--concurrency must be between 1 and 256")
    if args.students < 1 or args.repeat < 1 or not 0 <= args.warmup_students <= args.students:
        p.error("--students and --repeat must be positive, --warmup-students at most --students")
    if not 1 <= args.cbt_items <= args.items:
        p.error("--cbt-items must be between 1 and --items")
    if args.rate_limit_per_minute <= 0 or 60000 % args.rate_limit_per_minute:
        p.error("--rate-limit-per-minute must divide 60000 (see loadtest/README.md)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"exam_bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr if args.json == "-" else sys.stdout):
        print_report(result)
    if args.json == "-":
        print(json.dumps(result, indent=1, default=str))
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str) + "\n")
    failed = sum(sum(r["errors"].values()) for r in result["runs"])
    if failed:
        print(f"\nWARNING: {failed} requests failed (see errors above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
