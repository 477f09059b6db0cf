"""`dreamseed up` with no URLs: embedded servers, migrations, demo seed, web and worker;
Ctrl-C stops everything, and a second start finds the same data without seeding again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from hub.seed import DEMO_PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")
    }
    env |= {"DATA_DIR": str(data_dir), "PORT": str(port)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready in 90 s:\n{log.read_text()}")


def _login(base: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/auth/login",
        timeout=5,
        json={"email": "teacher@demo.dreamseed.kr", "password": DEMO_PASSWORD},
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == [], alive


def _postgres_running(data_dir: Path) -> bool:
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "postgres" and str(data_dir) in " ".join(p.info["cmdline"] or []):
            return True
    return False


def test_up_runs_the_product_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    """The first README command brings up a working hub twice on the same data."""
    data_dir, log, port = tmp_path / "data", tmp_path / "up.log", _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, log)
    try:
        _wait_ready(base, proc, log)
        first = _login(base)
        assert first.status_code == 200, first.text
        me = httpx.get(
            f"{base}/api/v1/users/me",
            timeout=5,
            headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        )
        assert me.json()["display_name"] == "김선생 (Ms. Kim)"
        assert "/static/js/main.js" in httpx.get(f"{base}/", timeout=5).text
    finally:
        _stop(proc)
    assert "demo school seeded" in log.read_text()
    # It ends by telling the newcomer where to go and as whom, and the page is there.
    assert f"Open {base}/ and log in as the demo teacher" in log.read_text()
    assert "teacher@demo.dreamseed.kr" in log.read_text().split(f"Open {base}/")[1]
    assert not _postgres_running(data_dir.resolve())

    proc = _start(data_dir, port, log)
    try:
        _wait_ready(base, proc, log)
        again = _login(base)
        assert again.status_code == 200
        # The access token from the first run is still valid: same data, same secret.
        me = httpx.get(
            f"{base}/api/v1/users/me",
            timeout=5,
            headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        )
        assert me.status_code == 200
        members = httpx.get(
            f"{base}/api/v1/organizations/{me.json()['memberships'][0]['org_id']}/members",
            timeout=5,
            headers={"Authorization": f"Bearer {again.json()['access_token']}"},
        )
        assert len({m["user_id"] for m in members.json()["items"]}) == 6  # seeded once, not twice
    finally:
        _stop(proc)
    assert "demo school already present" in log.read_text()
