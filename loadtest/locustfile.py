# mypy: disable-error-code="import-not-found,untyped-decorator,unused-ignore"
"""Locust scenarios: sustained mixed Socket.IO load on a running hub, through the lean client.

Where ``hub_bench.py`` measures one thing at a time on hubs it starts itself, this file keeps a
mixed population busy on a hub you started, for as long as you like, with locust's live
statistics:

* ``ChattingStudent`` (most users): connected all the time; every few seconds writes in its
  direct conversation, sometimes in the class group. Reports ``message.send`` (send->ack) and
  ``deliver message.new`` (send->delivery, from the timestamp the sender put in the text).
* ``AnnouncingTeacher`` (exactly one): posts to the announcement every ~10 s and to the group.
* ``ReconnectingStudent``: connects, stays a few seconds, leaves, comes back: ``connect``.

Every request is reported under request type ``sio``. Locust is optional (the project's
``load`` extra: ``pip install -e '.[load]'``); without it this module still imports (it then
defines no users), so linters and test collectors can load it.

Running it (all on 127.0.0.1)::

    # 1. a hub whose JWT_SECRET you know, with a database you own, e.g.
    export JWT_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(40))')
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ds_locust \\
    REDIS_URL=redis://127.0.0.1:6379/0 REDIS_NAMESPACE=dslocust \\
        .venv/bin/uvicorn api.app:create_app --factory --port 8000 --loop uvloop &
    #    (create and migrate ds_locust first: seed.py --create does both, run it before the hub)
    # 2. users, sessions, conversations and tokens (the seeding is NOT a production path):
    .venv/bin/python loadtest/seed.py --owner-dsn postgresql://postgres@127.0.0.1:5432/postgres \\
        --create ds_locust --students 300 --pairs 100 --room 300 --out /tmp/ds-seed.json
    # 3. the load
    HUB_SEED=/tmp/ds-seed.json locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 200 -r 50 -t 5m
    # 4. clean up: seed.py --owner-dsn ...postgres --drop ds_locust; redis keys dslocust:*

Each locust user takes the next seeded student (wrapping around when there are more users
than students). Keep each user under the hub's per-user limit (MESSAGE_RATE_PER_S, 10/s by
default): the wait times below send well under 1 message/s a user.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lean_client import SyncLeanSocket, raw_string_field

try:  # locust is an optional extra; importing it monkey-patches the stdlib with gevent
    from locust import User, between, events, task

    HAVE_LOCUST = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_LOCUST = False


# --- plain behaviour, no locust needed --------------------------------------------------------


class SeedData:
    """The users and conversations written by ``seed.py --out`` (loaded once per process)."""

    _lock = threading.Lock()
    _loaded: SeedData | None = None

    def __init__(self, data: dict[str, Any]) -> None:
        self.teacher: dict[str, str] = data["teacher"]
        self.students: list[dict[str, str]] = data["students"]
        self.announcement_id: str = data["announcement_id"]
        self.group_id: str = data["group_id"]
        self.direct_of: dict[str, str] = {}
        for conv in data["directs"]:
            for user_id in conv["users"]:
                self.direct_of[user_id] = conv["conversation_id"]
        self.group_members = {s["id"] for s in self.students[: data.get("room", 10**9)]}
        self._next = itertools.count()

    @classmethod
    def load(cls, path: str | None = None) -> SeedData:
        with cls._lock:
            if cls._loaded is None:
                source = path or os.environ.get("HUB_SEED", "")
                if not source:
                    raise RuntimeError("set HUB_SEED (or --hub-seed) to seed.py's --out file")
                cls._loaded = cls(json.loads(Path(source).read_text()))
            return cls._loaded

    def next_student(self) -> dict[str, str]:
        return self.students[next(self._next) % len(self.students)]


Report = Any  # (name, response_time_ms, length, exception | None) -> None


class HubSession:
    """One user's connection, its sends with ack and the deliveries it receives."""

    def __init__(self, host: str, port: int, user: dict[str, str], report: Report) -> None:
        self.host, self.port, self.user, self.report = host, port, user, report
        self.sock: SyncLeanSocket | None = None
        self.counter = itertools.count()

    def connect(self) -> None:
        started = time.perf_counter()
        try:
            self.sock = SyncLeanSocket(self.host, self.port, self.user["token"], timeout=15.0)
            self.sock.on_raw_event = self._on_event
            self.sock.connect()
        except Exception as exc:
            self.report("connect", (time.perf_counter() - started) * 1000, 0, exc)
            self.sock = None
            raise
        self.report("connect", (time.perf_counter() - started) * 1000, 0, None)

    def _on_event(self, raw: bytes, now: float) -> None:
        if not raw.startswith(b'["message.new"'):
            return
        if raw_string_field(raw, b"sender_id") == self.user["id"].encode():
            return  # our own message, echoed to our sockets
        content = raw_string_field(raw, b"content") or b""
        if content.startswith(b"t="):
            sent = float(content[2:].split(b" ", 1)[0])
            self.report("deliver message.new", (time.time() - sent) * 1000, len(raw), None)

    def send(self, conversation_id: str, name: str = "message.send") -> None:
        if self.sock is None or self.sock.is_closed:
            self.connect()
        assert self.sock is not None
        body = {
            "conversation_id": conversation_id,
            "client_msg_id": f"l-{self.user['id'][:8]}-{os.getpid()}-{next(self.counter)}",
            "content": f"t={time.time():.6f} hello",
            "message_type": "text",
        }
        started = time.perf_counter()
        try:
            ack = self.sock.call("message.send", body, timeout=15.0)
        except Exception as exc:
            self.report(name, (time.perf_counter() - started) * 1000, 0, exc)
            return
        elapsed = (time.perf_counter() - started) * 1000
        error = ack.get("error") if isinstance(ack, dict) else {"code": "no_ack"}
        self.report(name, elapsed, 0, RuntimeError(str(error)) if error else None)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# --- locust users -------------------------------------------------------------------------------

if HAVE_LOCUST:  # pragma: no cover - exercised by running locust

    @events.init_command_line_parser.add_listener
    def _options(parser: Any) -> None:
        parser.add_argument(
            "--hub-seed",
            type=str,
            env_var="HUB_SEED",
            default="",
            help="the JSON file written by loadtest/seed.py --out",
        )

    def _reporter(user: Any) -> Report:
        def report(name: str, ms: float, length: int, exc: BaseException | None) -> None:
            user.environment.events.request.fire(
                request_type="sio",
                name=name,
                response_time=ms,
                response_length=length,
                exception=exc,
                context={},
            )

        return report

    class HubUser(User):  # type: ignore[misc]
        abstract = True

        def on_start(self) -> None:
            options = self.environment.parsed_options
            self.seed = SeedData.load(getattr(options, "hub_seed", "") or None)
            parts = urlsplit(self.host or "http://127.0.0.1:8000")
            if parts.hostname not in ("127.0.0.1", "localhost"):
                raise RuntimeError("this locustfile only targets a hub on 127.0.0.1")
            self.session = HubSession(
                parts.hostname or "127.0.0.1", parts.port or 80, self.pick_user(), _reporter(self)
            )
            self.session.connect()

        def pick_user(self) -> dict[str, str]:
            return self.seed.next_student()

        def on_stop(self) -> None:
            self.session.close()

    class ChattingStudent(HubUser):
        weight = 10
        wait_time = between(2, 5)

        @task(10)
        def direct(self) -> None:
            conversation = self.seed.direct_of.get(self.session.user["id"])
            if conversation is not None:
                self.session.send(conversation, "message.send direct")

        @task(1)
        def group(self) -> None:
            if self.session.user["id"] in self.seed.group_members:
                self.session.send(self.seed.group_id, "message.send group")

    class AnnouncingTeacher(HubUser):
        fixed_count = 1
        wait_time = between(8, 12)

        def pick_user(self) -> dict[str, str]:
            return self.seed.teacher

        @task(3)
        def announce(self) -> None:
            self.session.send(self.seed.announcement_id, "message.send announcement")

        @task(1)
        def group(self) -> None:
            self.session.send(self.seed.group_id, "message.send group")

    class ReconnectingStudent(HubUser):
        weight = 2
        wait_time = between(3, 8)

        @task
        def reconnect(self) -> None:
            self.session.close()
            time.sleep(random.uniform(0.1, 1.0))
            self.session.connect()
