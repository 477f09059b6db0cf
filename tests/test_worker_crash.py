"""A worker killed mid-job loses nothing: the job runs again when a worker comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub.context import HubContext
from hub.settings import Settings
from tests.fcm_standin import FcmStandIn
from tests.support import Factory


def _worker(settings: Settings, sa: Path, endpoint: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.postgres_dsn,
        "REDIS_URL": settings.redis_dsn,
        "JWT_SECRET": settings.jwt_secret,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "FCM_SERVICE_ACCOUNT": str(sa),
        "FCM_ENDPOINT": endpoint,
        "JOB_TIMEOUT_S": "3",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _until(check: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_worker_killed_mid_push_runs_the_job_again(
    factory: Factory, hub_ctx: HubContext, settings: Settings, tmp_path: Path
) -> None:
    """SIGKILL while FCM holds the request; a restarted worker finishes it, same collapse key."""
    fcm = FcmStandIn(delay_s=1.5).start()
    try:
        sa = fcm.write_service_account(tmp_path / "sa.json")
        user = await factory.user()
        token = "tok-crash-" + "x" * 20
        await factory.fetch(
            "INSERT INTO devices (token, user_id, platform) VALUES ($1, $2, 'ios')", token, user.id
        )
        await hub_ctx.jobs.enqueue(
            "notify_users",
            [str(user.id)],
            "exam_result",
            "결과",
            "시험 결과가 나왔어요",
            {},
            "crash:1",
            False,
            job_id="crash-1",
        )
        first = _worker(settings, sa, fcm.base_url, tmp_path / "worker.log")

        async def in_flight() -> bool:
            return fcm.in_flight > 0

        await _until(in_flight, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert await factory.fetchval("SELECT push_state FROM notifications") == "pending"
        second = _worker(settings, sa, fcm.base_url, tmp_path / "worker.log")
        try:

            async def sent() -> bool:
                return bool(await factory.fetchval("SELECT push_state = 'sent' FROM notifications"))

            await _until(sent, 45)
        finally:
            second.terminate()
            second.wait(10)
        # Two requests reached FCM: the one cut off by the kill, then the re-run's, which
        # FCM answered; a re-sent push carries the same collapse key (shown once).
        assert fcm.requests == 2
        answered = [m["message"] for m in fcm.messages if m["message"]["token"] == token]
        assert {a["android"]["collapse_key"] for a in answered} == {"exam_result:crash:1"}
        assert await factory.fetchval("SELECT count(*) FROM notifications") == 1
    finally:
        fcm.stop()
