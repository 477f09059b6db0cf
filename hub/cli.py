"""The `dreamseed` command: up, migrate, seed, worker, createadmin, tutor, privacy.

Processes are started by import string (`api.app:create_app`, `workers.main`), so this
module never imports the transports above it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import FrameType

from hub.accounts import admins
from hub.bus import NullBus
from hub.db import Database
from hub.embedded import EmbeddedServices
from hub.keys import RedisKeys
from hub.privacy import backups
from hub.seed import demo_logins_text, seed_demo
from hub.services import close_context, open_context
from hub.settings import Settings, SettingsError, load_settings
from hub.tutor.routing import servers_from
from schema.migrate import migrate

logger = logging.getLogger("dreamseed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dreamseed", description="DreamSeed Hub")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run hub and worker (embedded PostgreSQL/Redis by default)")
    up.add_argument("--no-worker", action="store_true", help="run the web process only")
    up.add_argument("--no-seed", action="store_true", help="do not seed the demo school")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("seed", help="seed the demo school if it is missing")
    commands.add_parser("worker", help="run the background worker")
    create_admin = commands.add_parser(
        "createadmin", help="create a system administrator, or make an account one"
    )
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--name", default="System administrator")
    create_admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    commands.add_parser("tutor", help="run the AI tutor worker (generates answers)")
    _privacy_parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
        if args.command == "up":
            sys.exit(run_up(settings, worker=not args.no_worker, seed=not args.no_seed))
        elif args.command == "worker":
            run_worker(settings.require_runtime())
        elif args.command == "createadmin":
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
            if not args.password_stdin and sys.stdin.isatty():
                password = getpass.getpass("Password (empty: promote an existing account): ")
            with _services(settings) as resolved:
                asyncio.run(_create_admin(resolved, args.email, password or None, args.name))
        elif args.command == "tutor":
            run_tutor_worker(settings.require_runtime())
        elif args.command == "privacy":
            with _services(settings) as resolved:
                sys.exit(asyncio.run(_privacy(resolved, args)))
        else:
            with _services(settings) as resolved:
                asyncio.run(_prepare(resolved, seed=args.command == "seed"))
                if args.command == "seed":
                    print(demo_logins_text(), flush=True)
    except SettingsError as exc:
        print(f"dreamseed: {exc}", file=sys.stderr)
        sys.exit(2)


def _privacy_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    privacy = commands.add_parser(
        "privacy", help="the list of erased people kept beside the backups (hub/privacy/backups.py)"
    )
    actions = privacy.add_subparsers(dest="privacy_command", required=True)
    erased = actions.add_parser(
        "erased-ids", help="write the ids of every erased person, one a line (with each backup)"
    )
    erased.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    reapply = actions.add_parser(
        "reapply", help="after a restore: erase again whoever the kept list names"
    )
    reapply.add_argument("file", help="the list written by erased-ids ('-': standard input)")


async def _privacy(settings: Settings, args: argparse.Namespace) -> int:
    """`privacy erased-ids` and `privacy reapply`: 0 when done, 2 on a bad list."""
    subjects: list[uuid.UUID] = []
    if args.privacy_command == "reapply":
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()  # noqa: ASYNC240 - a command, before anything runs
        try:
            subjects = _erased_ids(text)
        except ValueError as exc:
            print(f"dreamseed: {args.file}: {exc}", file=sys.stderr)
            return 2
        # A restored backup may predate migrations the erasure relies on.
        await migrate(settings.postgres_dsn, settings.app_db_role)
    ctx = await open_context(settings, NullBus())
    try:
        if args.privacy_command == "erased-ids":
            lines = "".join(f"{s}\n" for s in await backups.erased_subjects(ctx))
            if args.output is None:
                sys.stdout.write(lines)
            else:
                args.output.write_text(lines)
                print(f"{lines.count(chr(10))} erased ids written to {args.output}", flush=True)
        else:
            again = await backups.reapply(ctx, subjects)
            print(f"erased again: {again} of {len(subjects)} listed", flush=True)
    finally:
        await close_context(ctx)
    return 0


def _erased_ids(text: str) -> list[uuid.UUID]:
    """One UUID a line; blank lines and '#' comments are skipped."""
    ids = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            ids.append(uuid.UUID(line))
        except ValueError:
            raise ValueError(f"line {n} is not a user id: {line[:40]!r}") from None
    return ids


class _services:
    """Resolve DATABASE_URL/REDIS_URL, starting embedded servers for whichever is unset."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedServices | None = None

    def __enter__(self) -> Settings:
        updates: dict[str, object] = {}
        if not (self.settings.database_url and self.settings.redis_url):
            self.embedded = EmbeddedServices(self.settings.data_dir)
            started = time.monotonic()
            database_url, redis_url = self.embedded.start()
            logger.info(
                "embedded PostgreSQL and Redis ready in %.1f s (data in %s)",
                time.monotonic() - started,
                self.embedded.data_dir,
            )
            updates["database_url"] = self.settings.database_url or database_url
            updates["redis_url"] = self.settings.redis_url or redis_url
        if not self.settings.jwt_secret:
            updates["jwt_secret"] = _local_jwt_secret(self.settings.data_dir)
        return self.settings.model_copy(update=updates)

    def __exit__(self, *exc: object) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def _local_jwt_secret(data_dir: Path) -> str:
    """Local runs only: a random secret kept in the data folder; sessions survive restarts."""
    path = data_dir / "jwt_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


async def _prepare(settings: Settings, *, seed: bool) -> None:
    applied = await migrate(settings.postgres_dsn, settings.app_db_role)
    logger.info("migrations applied: %s", ", ".join(applied) or "none pending")
    if seed:
        db = await Database.connect(
            settings.postgres_dsn, settings.app_db_role, min_size=1, max_size=2
        )
        try:
            created = await seed_demo(db)
        finally:
            await db.close()
        logger.info("demo school %s", "seeded" if created else "already present")


async def _create_admin(settings: Settings, email: str, password: str | None, name: str) -> None:
    await migrate(settings.postgres_dsn, settings.app_db_role)
    db = await Database.connect(settings.postgres_dsn, settings.app_db_role, min_size=1, max_size=2)
    try:
        made = await admins.create_sys_admin(db, email, password, name)
    except ValueError as exc:
        print(f"dreamseed: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        await db.close()
    what = "created" if made.created else "is now"
    print(f"system administrator {email} {what} (user {made.user_id})", flush=True)


def run_up(settings: Settings, *, worker: bool, seed: bool) -> int:
    with _services(settings) as resolved:
        asyncio.run(_prepare(resolved, seed=seed))
        env = {
            **os.environ,
            "DATABASE_URL": resolved.database_url or "",
            "REDIS_URL": resolved.redis_url or "",
            "JWT_SECRET": resolved.jwt_secret,
        }
        web = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            resolved.host,
            "--port",
            str(resolved.port),
            "--no-access-log",
            # Client addresses come from X-Forwarded-For only via TRUSTED_PROXIES (api/proxies.py).
            "--no-proxy-headers",
            # A room's event is framed once for all its members (hub/sockets/direct_socket.py),
            # which deflate's per-connection frames would rule out; chat events are small.
            "--ws-per-message-deflate",
            "false",
        ]
        if sys.platform != "win32":
            web += ["--loop", "uvloop"]
        children = [subprocess.Popen(web, env=env)]  # noqa: S603 - our own interpreter
        if worker:
            children.append(subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env=env))
            if servers_from(resolved):
                tutor = [sys.executable, "-m", "hub.cli", "tutor"]
                children.append(subprocess.Popen(tutor, env=env))  # noqa: S603
            else:
                logger.warning(
                    "the AI tutor is not configured on this server (set TUTOR_URL to an "
                    "OpenAI-compatible model server): questions get a clear error"
                )
        url = f"http://{resolved.host}:{resolved.port}/"
        print(f"\nDreamSeed Hub on {url}  (Ctrl-C stops it)", flush=True)
        if seed:
            print(f"Open {url} and log in as the demo teacher.\n{demo_logins_text()}", flush=True)
        print(f"API documentation: {url}api/docs", flush=True)
        return _supervise(children)


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait until a child dies or we are told to stop; then stop them all, gently first."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    # SIGHUP too: a closed terminal must not leave the embedded servers running.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    code = 0
    while not stopping:
        dead = [c for c in children if c.poll() is not None]
        if dead:
            code = dead[0].returncode or 1
            logger.error("a child process exited (%s); stopping", dead[0].args)
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
    return code


def run_worker(settings: Settings) -> None:
    from arq.connections import RedisSettings

    from hub.worker_process import run_steadily

    worker_settings = importlib.import_module("workers.main").WorkerSettings
    run_steadily(
        worker_settings,
        redis_settings=RedisSettings.from_dsn(settings.redis_dsn),
        queue_name=RedisKeys(settings.redis_namespace).job_queue,
        job_timeout=settings.job_timeout_s,
    )


def run_tutor_worker(settings: Settings) -> None:
    from arq.connections import RedisSettings

    from hub.worker_process import run_steadily

    worker_settings = importlib.import_module("workers.tutor_main").TutorWorkerSettings
    run_steadily(
        worker_settings,
        redis_settings=RedisSettings.from_dsn(settings.redis_dsn),
        queue_name=RedisKeys(settings.redis_namespace).tutor_job_queue,
        max_jobs=settings.tutor_worker_jobs,
    )


if __name__ == "__main__":
    main()
